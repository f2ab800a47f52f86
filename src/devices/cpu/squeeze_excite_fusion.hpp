// The CPU device's rewrite of squeeze-and-excitation blocks (MobileNetV3, EfficientNet,
// SE-ResNet) into one internal node (domain sinter.cpu):
//   p = GlobalAveragePool(x) or ReduceMean(x, spatial axes, keepdims)
//   h = FusedConv 1x1(p, w1, b1){post-ops}      s = FusedConv 1x1(h, w2, b2){post-ops}
//   y = Mul(x, s)
// becomes SqueezeExcite(x, w1, b1, w2, b2): per sample the channel means, two small
// matrix-vector products with their activations, and the per-channel scale of x, in two passes
// over x and without the four nodes' dispatch, their parallel regions and oneDNN's set-up for
// 1x1 inputs (which dominated these tiny products). Runs after fuse_convolutions, whose
// FusedConv nodes it reads, and before layout propagation, which keeps x's layout through it.
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

// Returns the number of nodes absorbed. `shapes`: of the graph before the CPU's rewrites.
int fuse_squeeze_excite(ir::Graph& graph, const ir::ShapeInference& shapes);

// The activations the SqueezeExcite kernel evaluates itself (FusedConv post-op names).
bool squeeze_excite_activation(const std::string& post_op);

}  // namespace sinter::cpu
