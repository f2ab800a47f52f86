// The CPU device's rewrite of group normalisation into one internal node (domain sinter.cpu)
// that reads its input twice (statistics, then the result) and writes once, however exporters
// spell it:
//   Reshape(x, [N, G, -1]) -> InstanceNormalization(scale_g, bias_g) -> Reshape(back to x)
//     [-> Mul(per-channel constant)] [-> Add(per-channel constant)] [-> Swish]
//   GroupNormalization(x, scale, bias) [-> Swish]           (opset 18: per group, 21: per channel)
// becomes GroupNorm(x, group_scale, group_bias, channel_scale, channel_bias){groups, epsilon,
// activation "swish" + alpha}, all parameters f32 constants (absent: 1 and 0). The diffusion
// models' GroupNorm + SiLU pairs run as one pass instead of five. Only where every intermediate
// value has this one reader; run after fuse_activations (which makes Swish).
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

// Returns the number of nodes absorbed (the pattern's nodes minus the one that replaces them).
// `shapes`: of the graph before the CPU's rewrites.
int fuse_group_norms(ir::Graph& graph, const ir::ShapeInference& shapes);

// Layer normalisation over the last axis as exporters before opset 17 write it:
//   m = ReduceMean(x, last axis); d = Sub(x, m); v = ReduceMean(Pow(d, 2) or Mul(d, d));
//   y = Div(d, Sqrt(Add(v, eps))) [-> Mul(gamma)] [-> Add(beta)]
// becomes LayerNormalization(x, gamma, beta){axis -1, epsilon} (gamma ones when absent), which
// runs as one oneDNN layer-norm primitive. gamma and beta: f32 constants of the last axis' size.
// The same chain over axis 1 of an image [N, C, ...] (ConvNeXt's channels-first LayerNorm, gamma
// and beta per channel, e.g. [C, 1, 1]) becomes ChannelLayerNorm(x, gamma, beta){epsilon}
// (domain sinter.cpu): every position's channels normalised, in NCHW or channels-last.
int fuse_layer_norms(ir::Graph& graph, const ir::ShapeInference& shapes);

}  // namespace sinter::cpu
