// Static shape inference: the element type and shape of every value of a graph, computed from
// the graph inputs' shapes without running it. Used by the memory preflight and (later) memory
// planning. Dimensions that depend on data (NonZero, a Reshape fed by runtime values, ...) stay
// unknown (-1); small integer tensors computed from shapes (Shape → Gather → Concat → Reshape,
// as exporters write them) are evaluated, so such chains resolve.
//
//   const ir::ShapeInference s = ir::infer_shapes(graph, {{"x", {1, 3, 224, 224}}});
//   s.values.at("conv1_out").dims;  // {1, 64, 112, 112}
//
// Rules follow the ONNX operator spec; window ops share ir/window_geometry.hpp with the CPU
// kernels. Ops without a rule leave their outputs unknown and are listed in `ops_without_rule`.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.hpp"

namespace sinter::ir {

struct ValueInfo {
  ElementType type = ElementType::undefined;
  bool rank_known = false;
  std::vector<int64_t> dims;  // when rank_known; -1 marks an extent not known statically
  // The contents of a small integer tensor (shape arithmetic), row-major, when known.
  std::optional<std::vector<int64_t>> values;
  // The contents of a small floating-point tensor (Resize scales), when known.
  std::optional<std::vector<double>> real_values;

  bool shape_known() const;
  // Bytes of the tensor, or -1 when its type or shape is not known.
  int64_t byte_size() const;

  static ValueInfo tensor(ElementType type, std::vector<int64_t> dims);
  static ValueInfo of_type(ElementType type);  // rank unknown
};

struct ShapeInference {
  std::map<std::string, ValueInfo> values;  // every input, constant and node output
  std::set<std::string> ops_without_rule;   // op types whose outputs stayed unknown
};

// NumPy-style broadcast of known-rank shapes; unknown extents stay unknown unless the other
// side fixes them (a known extent > 1 wins over unknown).
std::vector<int64_t> broadcast_dims(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// `input_shapes` overrides the declared shapes of graph inputs (static shapes given by the user);
// inputs not named keep their declared dims, symbolic ones unknown.
ShapeInference infer_shapes(const Graph& graph,
                            const std::map<std::string, Shape>& input_shapes = {});

// The same, knowing the graph inputs' actual tensors: small ones also contribute their contents
// (a Reshape whose target shape is a graph input then resolves). Used when a device plans a run.
ShapeInference infer_shapes(const Graph& graph, const std::map<std::string, const Tensor*>& inputs);

}  // namespace sinter::ir
