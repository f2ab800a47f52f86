// Weights a model stores as int8 codes with per-output-channel scales (`sinter convert --compress
// int8`, passes/quantize_weights.hpp, or any exporter's weight-only DequantizeLinear) stay int8
// on the CPU: FusedConv and FusedMatMul pack the codes themselves and widen them to f32 one
// layer at a time on each run (ops/weight_packing.hpp), so the weights take a quarter of their
// f32 memory and no f32 copy of the whole model is ever made.
//
// Before the f32 fusions, a weight-only DequantizeLinear is dropped and its readers read the
// codes, with the scales per output channel in their attribute weight_scales:
//   Conv(x, DequantizeLinear(codes, scales, axis 0))   ->   Conv(x, codes){weight_scales}
// The fusions take such a layer as one with f32 weights: a following per-channel affine or
// column scale multiplies the scales instead of the weights, Gemm's transposed weights
// transpose the codes. What they do not fuse gets f32 weights again afterwards. Winograd and
// the squeeze-excite fusion need f32 weights and leave these layers alone.
#pragma once

#include <vector>

#include "ir/graph.hpp"

namespace sinter::cpu {

// Rewrites every DequantizeLinear of int8 constant codes (zero points absent or 0; scales per
// tensor or along the output channels) read only as input 1 of Conv (axis 0), 2-D MatMul
// (axis 1) or Gemm (axis 0 with transB, else 1) whose input 0 is computed. Returns how many.
int keep_int8_weights(ir::Graph& graph);

// Whether node `n` reads int8 codes as its weights (it has weight_scales).
bool has_int8_weights(const ir::Node& n);

// The constant weights node `n` reads as input 1: f32, or int8 codes where has_int8_weights;
// nullptr otherwise.
const Tensor* layer_weights(const ir::Graph& graph, const ir::Node& n);

// Multiplies output channel c's scale by factor[c] (a per-channel affine folded into the layer).
void scale_int8_weights(ir::Node& n, const float* factor);

// Nodes other than FusedConv and FusedMatMul still reading codes get f32 weights again (codes
// times scales, a new constant). Returns how many.
int widen_unfused_int8_weights(ir::Graph& graph);

}  // namespace sinter::cpu
