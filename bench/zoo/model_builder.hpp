#pragma once
// A small helper that writes ONNX models from C++: graph inputs, deterministic random weights,
// nodes with attributes, outputs. The zoo uses it to build real architectures without PyTorch.

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

namespace zoo {

// splitmix64: a tiny, well-known generator whose stream is identical on every machine.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next_u64();
  float uniform(float lo, float hi);  // in [lo, hi)
 private:
  uint64_t state_;
};

// One attribute value: int, float, string, ints, floats.
using AttrValue =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;
struct Attr {
  std::string name;
  AttrValue value;
};

// A dimension of a graph input: a fixed size or a symbolic name.
using Dim = std::variant<int64_t, std::string>;

class ModelBuilder {
 public:
  ModelBuilder(std::string graph_name, uint64_t seed, int opset = 17);

  // Graph inputs and outputs. `elem_type` uses ONNX TensorProto numbering.
  std::string input(const std::string& name, int elem_type, const std::vector<Dim>& dims);
  void output(const std::string& value, const std::string& name);

  // Initializers. `weight` draws uniform values in [-scale, scale); `fan_in_weight` picks the
  // scale so that a layer roughly preserves the variance of its input (He-style init).
  std::string weight(const std::string& hint, const std::vector<int64_t>& dims, float scale);
  std::string fan_in_weight(const std::string& hint, const std::vector<int64_t>& dims,
                            int64_t fan_in);
  std::string uniform(const std::string& hint, const std::vector<int64_t>& dims, float lo,
                      float hi);
  std::string floats(const std::string& hint, const std::vector<int64_t>& dims,
                     const std::vector<float>& values);
  std::string ints(const std::string& hint, const std::vector<int64_t>& values);
  std::string scalar(const std::string& hint, float value);
  std::string int_scalar(const std::string& hint, int64_t value);  // 0-d int64
  // An integer initializer of ONNX type `elem_type` (INT8, UINT8 or INT32), as raw data.
  std::string integers(const std::string& hint, int elem_type, const std::vector<int64_t>& dims,
                       const std::vector<int64_t>& values);

  // One node with a single output; returns the output's name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::vector<Attr>& attrs = {});
  // A node with several outputs.
  std::vector<std::string> node_n(const std::string& op, const std::vector<std::string>& inputs,
                                  int outputs, const std::vector<Attr>& attrs = {});

  Random& rng() { return rng_; }
  int64_t parameter_count() const { return parameters_; }

  // Writes the model. With `external_data`, every initializer above 1 KiB goes to
  // `<file name>.data` next to it, as large exporters do.
  void save(const std::string& path, bool external_data = false);

 private:
  std::string fresh(const std::string& hint);
  std::string add_initializer(const std::string& hint, const std::vector<int64_t>& dims,
                              const std::vector<float>& values);

  onnx::ModelProto model_;
  Random rng_;
  int64_t counter_ = 0;
  int64_t parameters_ = 0;
};

}  // namespace zoo
