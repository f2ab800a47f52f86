// The peak memory of a graph's intermediate values, planned from static shapes: the graph runs
// in node order and each node output lives until its last reader (graph outputs to the end),
// the same policy the CPU executor follows, so the plan and a measured run agree when every shape
// is known. Weights a DequantizeLinear makes from constant codes are weights, not values.
//
//   const auto shapes = ir::infer_shapes(graph, {{"x", {1, 3, 224, 224}}});
//   const ir::ActivationEstimate a = ir::estimate_activations(graph, shapes);
//   // a.peak_bytes, a.unsized_values
#pragma once

#include <cstdint>
#include <string>

#include "ir/shape_inference.hpp"

namespace sinter::ir {

struct ActivationEstimate {
  int64_t peak_bytes = 0;      // largest total of live node outputs
  int64_t unsized_values = 0;  // node outputs whose size is not known statically (counted as 0)
  std::string first_unsized;   // one of them, for messages
};

ActivationEstimate estimate_activations(const Graph& graph, const ShapeInference& shapes);

}  // namespace sinter::ir
