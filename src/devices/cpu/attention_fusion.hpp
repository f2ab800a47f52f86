// The CPU device's rewrite of scaled dot-product attention into one internal node (domain
// sinter.cpu) that never writes the score matrix to memory:
//   MatMul(Q, K) [-> Mul/Div(scalar)] [-> Add(mask)] -> Softmax(last axis) -> MatMul(., V)
// becomes Attention(Q, K, V, mask){scale}: per block of query rows, scores = scale Q K (+ mask)
// in a small buffer, softmax along the row, times V. K is the already transposed key ([.., D, N]),
// as the first MatMul reads it. f32 only; every intermediate value must have this one reader.
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

// Returns the number of nodes absorbed (the pattern's nodes minus the one that replaces them).
// `shapes`: of the graph before the CPU's rewrites.
int fuse_attention(ir::Graph& graph, const ir::ShapeInference& shapes);

}  // namespace sinter::cpu
