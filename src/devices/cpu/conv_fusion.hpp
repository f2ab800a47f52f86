// The CPU device's own rewrites: every f32 Conv with constant weights becomes a FusedConv node
// (domain "sinter.cpu") that runs through a oneDNN primitive prepared once with its weights
// pre-packed, and takes the activations and the residual Add that follow it as post-ops:
//   Conv -> Add(residual) -> Relu   becomes   FusedConv(x, w, b, residual){post_ops: sum, relu}
// Post-ops are applied in order on the convolution's f32 result, as oneDNN defines them.
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

inline constexpr const char* kCpuDomain = "sinter.cpu";

// Returns the number of nodes (activations, Adds) absorbed into FusedConv nodes; `convs` gets
// the number of Conv nodes turned into FusedConv. `shapes`: see keep_blocked_layouts.
int fuse_convolutions(ir::Graph& graph, const ir::ShapeInference& shapes, int& convs);

// The same for MatMul with constant f32 2-D weights: FusedMatMul(a, w, bias, residual) through a
// oneDNN matmul primitive with pre-packed weights; a following Add of a constant vector along
// the last axis becomes its bias, then Add(residual) and activations its post-ops.
int fuse_matmuls(ir::Graph& graph, const ir::ShapeInference& shapes, int& matmuls);

}  // namespace sinter::cpu
