// The CPU device's rewrite of activations that exporters spell as several nodes into one
// internal node (domain sinter.cpu) that oneDNN computes in one pass:
//   Mul(x, Sigmoid(x))                              -> Swish(x), alpha 1 (SiLU)
//   Mul(x, Sigmoid(Mul(x, k)))                      -> Swish(x), alpha k (QuickGELU: k = 1.702)
//   Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)   -> GeluErf(x)   (operands in either order)
//   0.5 x (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3))) -> GeluTanh(x)  (GPT-2's; Pow or x*x*x)
//   Mul(x, HardSigmoid(x; alpha 1/6, beta 0.5))     -> HardSwish(x), the ONNX op (opset 14),
//                                                      as PyTorch wrote it for older opsets
// Only where every intermediate value has this one reader.
#pragma once

#include "ir/graph.hpp"

namespace sinter::cpu {

// Returns the number of nodes removed (the pattern's nodes minus the one that replaces them).
int fuse_activations(ir::Graph& graph);

}  // namespace sinter::cpu
