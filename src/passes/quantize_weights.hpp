// Weight-only int8 compression for `sinter convert --compress int8`: the f32 weights of Conv,
// MatMul and Gemm layers become int8 codes with one f32 scale per output channel,
//   scale[c] = max |W[c]| / 127,  code = round(W / scale[c])  (ties to even, in [-127, 127]),
// read back through a standard DequantizeLinear(codes, scales, axis = the output channel's axis)
// that makes the original name's value again: the file is a quarter of the size and any device
// that runs DequantizeLinear runs it unchanged. The CPU device keeps the codes as they are and
// widens one layer at a time (devices/cpu/int8_weights.hpp). BatchNormalizations after a Conv
// are folded into its weights first, as the CPU would have done with the f32 weights.
#pragma once

#include <cstdint>

#include "ir/graph.hpp"

namespace sinter::passes {

// Weights smaller than this stay f32 (biases, tiny layers: nothing to gain).
inline constexpr int64_t kInt8WeightMinElements = 1024;

// Rewrites the main graph (not If/Loop bodies) in place; returns how many weight tensors were
// compressed. A constant is left f32 when anything other than the weight input of a Conv
// (not ConvTranspose), a 2-D MatMul or Gemm weight reads it, when readers disagree on the
// output channel's axis, when it is a graph input or output, or when it holds NaN or infinity.
int quantize_weights_int8(ir::Graph& graph);

// 8-bit codes (int8 or uint8) as f32: (code - zero point) * scale, with `count` scales (and
// zero points, where given) along `axis`, or one for the whole tensor.
Tensor dequantized_codes(const Tensor& codes, const float* scales, int64_t count, int64_t axis,
                         const Tensor* zero = nullptr);

// The output of a node ir::dequantizes_constant_weights accepts, computed on the host:
// (code - zero point) * scale in f32.
Tensor dequantized_constant(const ir::Graph& graph, const ir::Node& n);

}  // namespace sinter::passes
