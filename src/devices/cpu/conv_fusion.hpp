// The CPU device's own rewrites: every f32 Conv with constant weights becomes a FusedConv node
// (domain "sinter.cpu") that runs through a oneDNN primitive prepared once with its weights
// pre-packed, and takes the activations and the residual Add that follow it as post-ops:
//   Conv -> Add(residual) -> Relu   becomes   FusedConv(x, w, b, residual){post_ops: sum, relu}
// Post-ops are applied in order on the convolution's f32 result, as oneDNN defines them.
#pragma once

#include <string>

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

// Values passed only from one FusedConv to others stay in `layout`, the one oneDNN's
// convolutions compute in on this CPU (onednn::preferred_conv_layout(): channels-last, or
// channel-blocked nChw16c / nChw8c), saving two reorders per edge. Marks producers `dst_layout`
// and readers `src_layout` / `residual_layout` (string attributes naming the layout). Only where
// the layout takes no padding (channel count a multiple of the block) and the shape is known.
// Returns the number of such values. `shapes` are those of the graph before fusion (FusedConv
// has no shape rule; fused nodes keep the output names of the nodes they absorbed).
int keep_conv_layouts(ir::Graph& graph, const std::string& layout,
                      const ir::ShapeInference& shapes);

}  // namespace sinter::cpu
