// The CPU device's own rewrite: every f32 Conv with constant weights becomes a FusedConv node
// (domain "sinter.cpu") that runs through a oneDNN primitive prepared once with its weights
// pre-packed, and takes the activations and the residual Add that follow it as post-ops:
//   Conv -> Add(residual) -> Relu   becomes   FusedConv(x, w, b, residual){post_ops: sum, relu}
// Post-ops are applied in order on the convolution's f32 result, as oneDNN defines them.
#pragma once

#include "ir/graph.hpp"

namespace sinter::cpu {

inline constexpr const char* kCpuDomain = "sinter.cpu";

// Returns the number of nodes (activations, Adds) absorbed into FusedConv nodes; `convs` gets
// the number of Conv nodes turned into FusedConv.
int fuse_convolutions(ir::Graph& graph, int& convs);

}  // namespace sinter::cpu
