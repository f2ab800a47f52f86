// Conv followed by an inference-mode BatchNormalization, all parameters constant f32, becomes
// one Conv with scaled weights and a shifted bias (BN is affine per output channel):
//   s = scale / sqrt(var + eps),  W'[m] = W[m] * s[m],  B'[m] = (B[m] - mean[m]) * s[m] + beta[m]
#pragma once

#include "ir/graph.hpp"

namespace sinter::passes {

// Returns the number of BatchNormalization nodes folded away.
int fold_batch_norm_into_conv(ir::Graph& graph);

}  // namespace sinter::passes
