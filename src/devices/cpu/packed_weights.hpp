// The weight copies the CPU device's kernels make once, in the layouts their primitives read
// (pre-packed convolution and matrix-product weights, Winograd-transformed tiles), which the
// memory estimate adds to the weights as the model stores them.
#pragma once

#include <cstdint>

#include "ir/graph.hpp"

namespace sinter::cpu {

// Bytes those copies add for the nodes of an optimised graph whose weights are constants: the
// whole copy where the original stays resident beside it, only the difference where the
// original is mapped from the model cache and its pages are given back after packing (growth
// for Winograd's tiles, a reduction for copies kept as f16 or int8: then negative), plus the
// f32 buffer the largest of those is widened into on each run.
int64_t packed_weight_bytes(const ir::Graph& graph);

}  // namespace sinter::cpu
