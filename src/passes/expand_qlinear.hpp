// The QOperator format of quantized models (QLinearConv, QLinearMatMul: integer codes in,
// integer codes out) rewritten as the QDQ format it stands for:
//   QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B)
//     = QuantizeLinear(Conv(DequantizeLinear(x, xs, xz), DequantizeLinear(w, ws, wz, axis 0),
//                           Cast<f32>(B) * (xs * ws)), ys, yz)
//   QLinearMatMul(a, as, az, b, bs, bz, ys, yz)
//     = QuantizeLinear(MatMul(DequantizeLinear(a, as, az), DequantizeLinear(b, bs, bz)), ys, yz)
// Between two such layers the codes then pass through DequantizeLinear(QuantizeLinear(...)),
// the pattern a device's QDQ fusions take (the CPU's: one oneDNN int8 primitive per layer), so
// both formats share one fast path. The result equals the ONNX definition up to the float
// rounding of the requantization (the spec leaves its order of operations open).
#pragma once

#include "ir/graph.hpp"

namespace sinter::passes {

// Returns the number of nodes expanded.
int expand_qlinear_ops(ir::Graph& graph);

// MaxPool(QuantizeLinear(x)) becomes QuantizeLinear(MaxPool(x)) where the codes have no other
// reader: quantizing never reverses an order (x / s rounded, then clamped), so the largest code
// in a window is the code of the largest value, and padding is ignored by MaxPool either way.
// The QOperator format pools codes between two layers; afterwards those layers meet as
// DequantizeLinear(QuantizeLinear(...)) too. Returns the number of MaxPools moved.
int move_max_pools_before_quantize(ir::Graph& graph);

}  // namespace sinter::passes
