// sinter's entry points: read a model, compile it for a device, run it.
//
//   sinter::Core core;
//   sinter::Model model = core.read_model("resnet50.onnx");
//   sinter::CompiledModel compiled = core.compile_model(model, "CPU");
//   sinter::InferRequest request = compiled.create_infer_request();
//   request.set_input("data", input_tensor);
//   request.infer();
//   sinter::Tensor scores = request.get_output("scores").tensor();
//
// Every call throws sinter::Error (see error.hpp) on failure. A CompiledModel may be shared by
// threads; each thread uses its own InferRequest.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sinter/config.hpp"
#include "sinter/error.hpp"
#include "sinter/tensor.hpp"

namespace sinter {

namespace runtime {
class ModelCache;
}  // namespace runtime

namespace detail {
struct ModelImpl;
struct CompiledModelImpl;
struct InferRequestImpl;
}  // namespace detail

// One dimension of a declared shape: a number, or a symbol ("batch"), or unknown (-1, "").
struct Dimension {
  int64_t value = -1;
  std::string symbol;
  bool is_static() const { return value >= 0; }
};

// What an input or output of a model is: name, kind, element type, declared shape.
struct PortInfo {
  enum class Kind { tensor, sequence, optional_tensor, optional_sequence, unknown };
  std::string name;
  Kind kind = Kind::tensor;
  ElementType element_type = ElementType::undefined;
  bool has_shape = false;  // false: the model declares no shape (any rank)
  std::vector<Dimension> shape;
};

// "f32[1,3,224,224]", "f32[batch,?]"
std::string to_string(const PortInfo& port);

struct DeviceInfo {
  std::string name;       // "CPU", "GPU.0": what -d accepts
  std::string full_name;  // "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
  std::string type;       // "cpu", "integrated", "discrete", "opencl-cpu"
  std::string driver;     // driver version, or the instruction set for the CPU
  int64_t memory_total_bytes = 0;
  int64_t memory_available_bytes = 0;
  // What the device runs natively: "FP32", "FP16", "BF16", "INT8", "EXPORT_IMPORT".
  std::vector<std::string> capabilities;
  // The properties that key this device's model-cache entries (ISA, library versions, ...).
  std::map<std::string, std::string> caching_properties;
  // Everything else worth showing (threads, compute units, ...).
  std::map<std::string, std::string> properties;
};

// How `Model::save` writes a .sinter file (docs/sinter-format.md).
struct ConvertOptions {
  bool compress_f16 = false;  // float32 weights stored as float16, expanded again at load
  // Conv, MatMul and Gemm weights stored as int8 with one scale per output channel, read
  // through DequantizeLinear (the CPU keeps them int8 in memory too).
  bool compress_int8 = false;
};

struct ConvertReport {
  int64_t tensors = 0;
  int64_t compressed_tensors = 0;
  int64_t file_bytes = 0;
};

// Where a node runs and, after a profiled inference, how long it took.
struct NodeReport {
  std::string node;
  std::string op;
  std::string device;
  std::string implementation;  // e.g. "oneDNN convolution", "C++ kernel"
  double ms = 0;
};

// What running a model needs in memory (docs/model-cache.md#memory).
struct MemoryEstimate {
  int64_t weight_bytes = 0;
  // Copies of the weights the device's kernels make once in their own layouts (pre-packed,
  // Winograd-transformed): known once the model is compiled, 0 before. Where a copy replaces
  // weights mapped from the model cache (whose pages are given back) only the difference counts,
  // and a copy smaller than the original (the weights setting's f16 or int8) makes it negative.
  int64_t packed_weight_bytes = 0;
  int64_t input_bytes = 0;       // graph inputs of known size
  int64_t activation_bytes = 0;  // peak of intermediate values and outputs
  // "planned" (static shapes) or "measured" (an earlier run of the same cached compile).
  std::string activation_source = "planned";
  // Values whose size depends on data or on dims left dynamic; not counted above.
  int64_t unsized_values = 0;
  std::string first_unsized;  // one of them, by name

  int64_t total_bytes() const {
    return weight_bytes + packed_weight_bytes + input_bytes + activation_bytes;
  }
  // "weights 97.5 MiB + inputs 0.6 MiB + intermediate values 27.9 MiB planned"
  std::string describe() const;
};

class Model {
 public:
  const std::vector<PortInfo>& inputs() const;
  const std::vector<PortInfo>& outputs() const;
  // The default-domain (ai.onnx) opset the model imports.
  int64_t opset() const;
  // Where the model came from (a path, or "<memory>").
  const std::string& source() const;
  // op_type -> number of nodes, including nodes inside subgraphs.
  std::map<std::string, int64_t> op_histogram() const;
  int64_t node_count() const;
  // Bytes of the model's weights (initializers and constants of the main graph).
  int64_t weight_bytes() const;
  // What running it needs, planned from static shapes (docs/model-cache.md#memory): the declared
  // input shapes, overridden by `input_shapes`. Dims left dynamic make some values unsized.
  MemoryEstimate memory_estimate(const std::map<std::string, Shape>& input_shapes = {}) const;
  int64_t memory_estimate_bytes() const { return memory_estimate().total_bytes(); }
  // Floating-point operations of one inference at these input shapes (Conv, ConvTranspose,
  // MatMul, Gemm; 2 per multiply-add), for achieved-GFLOP/s figures. Nodes of unknown shape
  // are left out.
  int64_t flops(const std::map<std::string, Shape>& input_shapes = {}) const;
  // "onnx" or "sinter": the format it was read from.
  const std::string& format() const;
  // True when the graph and weights were mapped from the model cache instead of parsed.
  bool read_from_cache() const;
  // Writes the model as a .sinter file (atomically), which later loads by mmap without copies.
  ConvertReport save(const std::string& path, const ConvertOptions& options = {}) const;

 private:
  friend class Core;
  std::shared_ptr<const detail::ModelImpl> impl_;
};

class InferRequest {
 public:
  // Throws invalid_argument for a name that is not an input, or a wrong element type or shape.
  void set_input(const std::string& name, Value value);
  void infer();
  // Runs the inference on another thread; wait() returns when it is done and rethrows its error.
  // Several requests of one compiled model may be in flight at once. While this request runs,
  // set_input, infer, start_async and get_output throw invalid_argument.
  void start_async();
  void wait();
  // After infer() or wait(): an output by name. Throws invalid_argument for an unknown name.
  const Value& get_output(const std::string& name) const;
  // The devices that ran the last inference, each once, in order of first use (AUTO: the CPU
  // while the chosen device is still compiling; HETERO: its subgraphs' devices).
  std::vector<std::string> executed_on() const;
  // The last inference: bytes passed between devices at HETERO subgraph boundaries.
  int64_t transfer_bytes() const;
  // With profiling on, each infer() records the time of every top-level node.
  void set_profiling(bool on);
  // The last profiled infer(): one entry per top-level node, in execution order.
  std::vector<NodeReport> profile() const;
  // The last profiled infer(): most bytes of intermediate values alive at once.
  int64_t peak_activation_bytes() const;
  // The last profiled infer(): those values and what the kernels allocated for themselves while
  // they ran (staging copies, scratch), where the device knows it; else the values' peak.
  int64_t working_memory_bytes() const;

 private:
  friend class CompiledModel;
  std::shared_ptr<detail::InferRequestImpl> impl_;
};

class CompiledModel {
 public:
  InferRequest create_infer_request() const;
  const std::vector<PortInfo>& inputs() const;
  const std::vector<PortInfo>& outputs() const;
  // The devices that run this model, e.g. {"CPU"}.
  std::vector<std::string> execution_devices() const;
  // The device of each subgraph, in execution order: one entry unless HETERO split the model.
  std::vector<std::string> subgraph_devices() const;
  // The precision that runs (setting `precision`), e.g. "f32" or
  // "f16 (f16 storage, f32 arithmetic)".
  const std::string& precision() const;
  // Device -> number of top-level nodes placed on it.
  std::map<std::string, int64_t> placement() const;
  // True when this compile was found in the model cache (see docs/model-cache.md).
  bool loaded_from_cache() const;
  // Every top-level node with the device and implementation that run it.
  const std::vector<NodeReport>& node_placement() const;
  // What the memory preflight of this compile counted: planned from the compiled input shapes,
  // or measured by an earlier run of the same cached compile.
  const MemoryEstimate& memory_estimate() const;
  // Gives back the working memory (intermediate values) that finished inferences keep for the
  // next one: worth it between the stages of a pipeline, where another model runs next. The
  // next infer() takes it again (and faults it in anew). Requests still alive keep their
  // outputs.
  void release_working_memory() const;

 private:
  friend class Core;
  std::shared_ptr<const detail::CompiledModelImpl> impl_;
};

// The model cache's contents (docs/model-cache.md).
struct CacheEntry {
  std::string key;
  std::string kind;  // "model" (converted graph + weights) or "compiled" (one device/shape compile)
  std::string source;
  std::string device;
  std::string shapes;
  int64_t bytes = 0;
  int64_t last_used_unix = 0;
};

struct CacheInfo {
  std::string dir;
  bool enabled = false;
  int64_t total_bytes = 0;
  int64_t max_bytes = 0;
  std::vector<CacheEntry> entries;  // most recently used first
};

// Peak resident memory of this process so far (Linux VmHWM), in bytes; 0 when unknown.
int64_t peak_rss_bytes();
// Resident memory of this process now (Linux VmRSS), in bytes; 0 when unknown. What the process
// holds before a model is read (libraries, heap) is part of every measured peak but of no
// model's estimate.
int64_t resident_bytes();

class Core {
 public:
  // Settings from the environment and defaults (see config.hpp).
  Core();
  // Settings resolved by the caller, e.g. from command-line flags and a config file.
  explicit Core(const Config& config);
  const Config& config() const { return *config_; }
  // Reads an ONNX model (external data files next to it) or a .sinter file (mapped, no copies):
  // the format is recognised by content, not by extension.
  Model read_model(const std::string& path) const;
  // Reads an ONNX model from memory; external data (if any) is looked up under base_dir.
  Model read_model_from_memory(const void* data, std::size_t size,
                               const std::string& base_dir = "") const;
  // On the configured device (setting "device", default CPU), optionally for given input shapes.
  CompiledModel compile_model(const Model& model) const;
  CompiledModel compile_model(const Model& model,
                              const std::map<std::string, Shape>& input_shapes) const;
  // On `device`, in the grammar of docs/devices-and-settings.md: CPU, GPU, GPU.N, N,
  // HETERO:..., AUTO[:...]. `input_shapes` names the static shapes this compile is for (part of
  // its cache key); inputs not named keep their declared shapes.
  CompiledModel compile_model(const Model& model, const std::string& device,
                              const std::map<std::string, Shape>& input_shapes = {}) const;
  // The memory compile_model(model, device, input_shapes) and its inferences will need, before
  // anything compiles: Model::memory_estimate's plan, with the peak of intermediate values
  // measured by an earlier run of the same compile where the model cache recorded one (the
  // static plan cannot see what the device fuses away, such as attention's score matrices).
  MemoryEstimate memory_estimate(const Model& model, const std::string& device,
                                 const std::map<std::string, Shape>& input_shapes = {}) const;
  std::vector<DeviceInfo> available_devices() const;

  CacheInfo cache_info() const;
  // Evicts least-recently-used models until the cache holds at most `max_bytes`; returns the
  // bytes freed (0 when the cache is off).
  int64_t prune_cache(int64_t max_bytes) const;
  // Removes every entry and the devices' own artefacts (OpenCL binaries); returns bytes freed.
  int64_t clear_cache() const;

 private:
  CompiledModel compile_on(const Model& model, const std::string& device, const std::string& source,
                           const std::map<std::string, Shape>& input_shapes) const;
  std::shared_ptr<const Config> config_;
  std::string cache_lookup(const detail::ModelImpl& model, const DeviceInfo& device,
                           const std::map<std::string, Shape>& input_shapes,
                           detail::CompiledModelImpl& compiled) const;
  void cache_store(const detail::ModelImpl& model, const DeviceInfo& device,
                   const detail::CompiledModelImpl& compiled) const;
  void map_through_cache(detail::ModelImpl& model) const;
  // The settings that change what a compile produces; part of every compile entry's key.
  std::map<std::string, std::string> compile_options() const;
  std::shared_ptr<runtime::ModelCache> cache_;  // null when the cache is off
};

}  // namespace sinter
