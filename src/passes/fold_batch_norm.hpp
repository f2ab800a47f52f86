// Conv followed by an inference-mode BatchNormalization, all parameters constant f32, becomes
// one Conv with scaled weights and a shifted bias (BN is affine per output channel):
//   s = scale / sqrt(var + eps),  W'[m] = W[m] * s[m],  B'[m] = (B[m] - mean[m]) * s[m] + beta[m]
#pragma once

#include <optional>
#include <vector>

#include "ir/graph.hpp"

namespace sinter::passes {

// y = x * scale[c] + shift[c] per channel c.
struct ChannelAffine {
  std::vector<float> scale, shift;
};

// The per-channel affine an inference-mode BatchNormalization computes, when its parameters are
// constant f32 vectors of `channels` values and it is asked for no running statistics;
// nullopt otherwise.
std::optional<ChannelAffine> batch_norm_affine(const ir::Graph& g, const ir::Node& bn,
                                               int64_t channels);

// Returns the number of BatchNormalization nodes folded away.
int fold_batch_norm_into_conv(ir::Graph& graph);

}  // namespace sinter::passes
