// DynamicQuantizeLinear's arithmetic, shared by its kernel and the fused DynamicQuantConv: the
// range of x (with 0 in it), the uint8 scale and zero point it gives, and the quantized values.
// Computed in float as ONNX's reference implementation and ONNX Runtime do:
//   scale = (max - min) / 255, zero_point = round_half_even(clamp(-min / scale, 0, 255)),
//   q = clamp(round_half_even(x / scale) + zero_point, 0, 255).
// A tensor of zeros has max = min = 0: scale 0 in the output (as the spec's formula gives), and
// q = zero_point = 0 (ONNX Runtime divides by 1 then; every value is 0 either way).
#pragma once

#include <cstdint>

namespace sinter::cpu {

struct DynamicQuantParams {
  float scale = 0;
  int zero_point = 0;
};

// The parameters for x[0..n) (min and max taken in parallel).
DynamicQuantParams dynamic_quant_params(const float* x, int64_t n);

// The parameters a quantized kernel uses for its input x: the node's fixed input_scale and
// input_zero_point attributes where it has them (a statically quantized QDQ layer; zero point
// of uint8 codes), else dynamic_quant_params(x).
class OpContext;
DynamicQuantParams input_quant_params(const OpContext& ctx, const float* x, int64_t n);

// q[0..n) from x with those parameters (in parallel).
void dynamic_quantize(const float* x, int64_t n, const DynamicQuantParams& p, uint8_t* q);

// q - zero_point as floats (exact small integers), for convolutions of the codes in f32.
void dynamic_quantize_centred(const float* x, int64_t n, const DynamicQuantParams& p, float* out);

// (q - zero_point) * scale: DequantizeLinear(QuantizeLinear(x)) with uint8 codes (int8 ones
// are the same codes shifted by 128, zero point included).
void quantize_dequantize(const float* x, int64_t n, const DynamicQuantParams& p, float* out);

}  // namespace sinter::cpu
