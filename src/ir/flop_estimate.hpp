// Floating-point operations of one inference, counted for the ops that dominate (Conv,
// ConvTranspose, MatMul, Gemm: 2 per multiply-add) from statically inferred shapes. What the
// benchmarks divide by latency to state an achieved GFLOP/s.
//
//   const FlopEstimate f = estimate_flops(graph, infer_shapes(graph, shapes));
#pragma once

#include <cstdint>

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::ir {

struct FlopEstimate {
  int64_t flops = 0;
  int64_t uncounted_nodes = 0;  // heavy nodes whose shapes were not known
};

FlopEstimate estimate_flops(const Graph& graph, const ShapeInference& shapes);

}  // namespace sinter::ir
