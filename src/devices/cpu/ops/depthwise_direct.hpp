// A direct depthwise convolution (one input channel per output channel) on plain NC[H]W
// tensors, for the shapes oneDNN 2.6 has no depthwise JIT kernel for (1-D ones in plain layout,
// on AVX2 and AVX-512 alike): it takes its gemm-based convolution then, small sgemms per channel
// (Silero VAD's 258-channel 1-D depthwise convolution: 70 us there, 25 here).
#pragma once

#include <string>
#include <vector>

#include "devices/cpu/ops/conv_descriptor.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/post_op_rows.hpp"

namespace sinter::cpu {

// Whether FusedConv `node` with these dimensions runs the direct kernel: f32 in and out, plain
// layouts, 1-D or 2-D, depthwise with one filter per channel, no Winograd, and oneDNN's pick
// (`onednn_impl`) gemm-based.
bool prefers_direct_depthwise(const ir::Node& node, const ConvDims& dims,
                              const std::string& onednn_impl);

// y = post_ops(x * w + bias [+ residual at the sum step]) for x [N, C, spatial...] and w
// [C, 1, kernel...] (plain, row-major); bias and residual may be null.
void depthwise_conv_plain(const ConvGeometry& g, const Shape& x_shape, const float* x,
                          const float* w, const float* bias, const float* residual,
                          const std::vector<PostOpStep>& steps, float* y);

}  // namespace sinter::cpu
