// The per-op rules of static shape inference (internal to ir/shape_inference.cpp).
//
// A rule reads what is known about a node's inputs and fills in its outputs. It never throws for
// missing knowledge: an input whose shape is unknown simply leaves the output (or some of its
// dims) unknown. Rules are grouped by op family, one file each.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/shape_inference.hpp"

namespace sinter::ir {

// Small integer tensors whose contents are tracked (shape arithmetic), in elements.
inline constexpr int64_t kMaxTrackedValues = 64;

struct RuleContext {
  const Node& node;
  int64_t opset;
  std::vector<const ValueInfo*> inputs;  // nullptr: omitted or not known at all
  std::vector<ValueInfo> outputs;        // one per node output, unknown on entry

  const ValueInfo* in(std::size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  bool has_shape(std::size_t i) const { return in(i) && in(i)->rank_known; }
  bool has_values(std::size_t i) const { return in(i) && in(i)->values.has_value(); }
  ElementType type(std::size_t i) const { return in(i) ? in(i)->type : ElementType::undefined; }
  // Output `i`; a node may declare fewer outputs than its op has (malformed models do), so
  // writing one it lacks lands in a slot that is dropped afterwards.
  ValueInfo& out(std::size_t i) {
    if (i >= outputs.size()) outputs.resize(i + 1);
    return outputs[i];
  }
  // Output 0 gets input `i`'s type and shape (elementwise ops).
  void same_as_input(std::size_t i = 0, std::size_t o = 0);
};

using ShapeRule = std::function<void(RuleContext&)>;
using RuleTable = std::map<std::string, ShapeRule>;

void add_elementwise_rules(RuleTable& rules);
void add_tensor_rules(RuleTable& rules);
void add_nn_rules(RuleTable& rules);

// Helpers shared by the rule files.
int64_t product(const std::vector<int64_t>& dims);  // -1 when any dim is unknown
// Negative axes count from the end; returns -1 when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank);
// Contents of a tracked integer tensor, when the values and a known shape are both present.
bool tracked(const ValueInfo* v);
// What is known of a constant tensor: type, shape and (when small) its contents.
ValueInfo constant_info(const Tensor& t);
// Sets `v` to a tracked integer tensor.
void set_values(ValueInfo& v, ElementType type, std::vector<int64_t> dims,
                std::vector<int64_t> values);

}  // namespace sinter::ir
