// What the CPU device's fusions share to find chains of nodes: which node makes a value, which
// single node reads it, scalar constants, and the bookkeeping of nodes absorbed into a fused one
// (marked during the walk, erased at the end, their sources handed to the fused node).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

// The dims of `value` when static shape inference knows it as an f32 tensor of known shape;
// nullptr otherwise.
const std::vector<int64_t>* known_f32_dims(const ir::ShapeInference& shapes,
                                           const std::string& value);

class GraphMatcher {
 public:
  explicit GraphMatcher(ir::Graph& g);

  // The node producing `value` when it is `op` in `domain` and `value` has no other reader (and
  // is not a graph output), so it may disappear into a fused node.
  ir::Node* private_producer(const std::string& value, const std::string& op,
                             const std::string& domain = "");
  // The one node reading `value` when it is `op` in `domain`, `value` has no other reader and is
  // not a graph output.
  ir::Node* sole_reader(const std::string& value, const std::string& op,
                        const std::string& domain = "");
  // The node producing `value` (any op, not removed), or nullptr.
  ir::Node* producer(const std::string& value);
  // How many nodes read `value`.
  std::size_t reader_count(const std::string& value) const;
  // The scalar f32 constant `value`, if it is one.
  std::optional<float> scalar(const std::string& value) const;
  // The axes a Reduce* node with keepdims = 1 reduces: its `axes` attribute, or its constant
  // second input (opset 18); nullopt when they are not known constants or dims are dropped.
  std::optional<std::vector<int64_t>> kept_dims_reduce_axes(const ir::Node& reduce) const;

  void remove(const ir::Node* n);
  bool removed(std::size_t i) const { return removed_.count(i) > 0; }
  // The sources of the nodes removed since the last call (they go to the fused node).
  std::vector<std::size_t> take_absorbed_sources();
  // Erases the removed nodes from the graph (the matcher is done then).
  void erase_removed();

 private:
  bool private_value(const std::string& value) const;

  ir::Graph& g_;
  std::unordered_map<std::string, std::vector<std::size_t>> readers_;
  std::unordered_map<std::string, std::size_t> producer_;
  std::unordered_set<std::size_t> removed_;
  std::vector<std::size_t> absorbed_sources_;
};

}  // namespace sinter::cpu
