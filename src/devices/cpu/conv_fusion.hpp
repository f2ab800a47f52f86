// The CPU device's own rewrites: every f32 Conv with constant weights becomes a FusedConv node
// (domain "sinter.cpu") that runs through a oneDNN primitive prepared once with its weights
// pre-packed, and takes the activations and the residual Add that follow it as post-ops:
//   Conv -> Add(residual) -> Relu   becomes   FusedConv(x, w, b, residual){post_ops: sum, relu}
// Post-ops are applied in order on the convolution's f32 result, as oneDNN defines them.
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

inline constexpr const char* kCpuDomain = "sinter.cpu";

// Returns the number of nodes (activations, Adds) absorbed into FusedConv nodes; `convs` gets
// the number of Conv nodes turned into FusedConv. `shapes`: see keep_blocked_layouts.
int fuse_convolutions(ir::Graph& graph, const ir::ShapeInference& shapes, int& convs);

// ONNX Runtime's dynamic quantization of a Conv, as its quantization tool writes it:
//   (xq, xs, xz) = DynamicQuantizeLinear(x); y = Cast<f32>(ConvInteger(xq, wq, xz, wz)) * (xs * ws)
// [+ bias] [activations, residual Add] becomes one DynamicQuantConv(x, w_s8, scales, bias,
// correction, residual) that quantizes x as DynamicQuantizeLinear does and runs a oneDNN int8
// convolution (u8 input with its zero point, s8 weights, f32 output scaled per channel, then the
// post-ops). The weights are stored s8 (uint8 ones less 128); `correction` (per output channel:
// 128 - wz, or -wz for int8 weights) times the window sums of the centred input makes up the
// difference to wq - wz. The older quantizer's integer bias (ConvInteger +
// Cast<int32>(Floor(bias / (xs * ws)))) is kept as such (attribute integer_bias: the kernel
// adds floor(bias / scale) to the integers). Returns the nodes absorbed; `convs` the
// ConvIntegers rewritten.
int fuse_dynamic_quant_convs(ir::Graph& graph, const ir::ShapeInference& shapes, int& convs);

// ONNX Runtime's dynamically quantized MatMul: (xq, xs, xz) = DynamicQuantizeLinear(x);
// Cast<f32>(MatMulInteger(xq, wq, xz, wz)) * (xs * ws) [+ constant bias] becomes one
// DynamicQuantMatMul(x, w_s8, ws, correction, bias) that quantizes x as DynamicQuantizeLinear
// does and runs a oneDNN int8 matrix product (s8 weights as for DynamicQuantConv: uint8 ones
// less 128, the correction making up wq - wz), ONNX's integers exactly. Runs after shape
// inference (the node keeps the output name of the last node it replaces). Returns the
// MatMulIntegers rewritten.
int fuse_dynamic_quant_matmuls(ir::Graph& graph);

// The same for MatMul with constant f32 2-D weights: FusedMatMul(a, w, bias, residual) through a
// oneDNN matmul primitive with pre-packed weights; a following Add of a constant vector along
// the last axis becomes its bias, then Add(residual) and activations its post-ops.
int fuse_matmuls(ir::Graph& graph, const ir::ShapeInference& shapes, int& matmuls);

}  // namespace sinter::cpu
