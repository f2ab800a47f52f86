// Folds what a graph computes before it needs any input into constants, so that the fusions
// after it see constants where exporters wrote nodes:
//   - Constant nodes (PyTorch writes scalars such as LayerNorm's epsilon or GELU's sqrt(2) so);
//   - nodes whose inputs are all constants, evaluated once with the CPU device's own kernels
//     (weights transposed or cast, arithmetic on constants);
//   - Shape and Size of a value whose shape is known, after which the Gather / Unsqueeze /
//     Concat arithmetic on them has constant inputs: with the input shapes fixed, the Reshape
//     targets exporters compute at run time become constants.
// Not folded: ops with subgraphs, random ops, nodes whose output is a graph output, a constant
// that is also a graph input (only a default the caller may replace), and results larger than
// twice their inputs plus 64 KiB (Expand / ConstantOfShape / Tile stay nodes rather than become
// megabytes of constants). Returns the number of nodes folded; constants nothing reads any more
// are left for passes::remove_dead_nodes. With `keep_dequantized_weights`, DequantizeLinear of
// 8-bit constants is not folded either: the QDQ fusions (qdq_matching.hpp) want the integer
// weights; a second folding afterwards folds those they left.
#pragma once

#include "ir/graph.hpp"

namespace sinter::cpu {

int fold_constants(ir::Graph& graph, bool keep_dequantized_weights = false);

}  // namespace sinter::cpu
