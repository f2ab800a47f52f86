#include "devices/cpu/ops/dynamic_quant.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "devices/cpu/op_context.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"

namespace sinter::cpu {

namespace {

// Chunks of this many elements are the unit of parallel work (small tensors stay on one thread).
constexpr int64_t kChunk = 1 << 16;

}  // namespace

DynamicQuantParams dynamic_quant_params(const float* x, int64_t n) {
  float lo = 0, hi = 0;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  if (chunks <= 1) {
    if (n > 0) vec::min_max(x, n, lo, hi);  // no team for one chunk (parallel_for.hpp)
  } else {
#pragma omp parallel for reduction(min : lo) reduction(max : hi)
    for (int64_t c = 0; c < chunks; ++c) {
      float l = 0, h = 0;
      vec::min_max(x + c * kChunk, std::min(kChunk, n - c * kChunk), l, h);
      lo = std::min(lo, l);
      hi = std::max(hi, h);
    }
  }
  DynamicQuantParams p;
  p.scale = (hi - lo) / 255.0f;
  if (p.scale == 0) return p;
  const float zero_point = std::min(std::max(-lo / p.scale, 0.0f), 255.0f);
  p.zero_point = static_cast<int>(std::nearbyint(zero_point));
  return p;
}

DynamicQuantParams input_quant_params(const OpContext& ctx, const float* x, int64_t n) {
  if (!ctx.node().find("input_scale")) return dynamic_quant_params(x, n);
  DynamicQuantParams p;
  p.scale = ctx.attr_f("input_scale", 0.f);
  p.zero_point = static_cast<int>(ctx.attr_i("input_zero_point", 0));
  ctx.check(p.scale > 0 && std::isfinite(p.scale) && p.zero_point >= 0 && p.zero_point <= 255,
            "needs a positive input_scale and an input_zero_point in [0, 255], got {} and {}",
            p.scale, p.zero_point);
  return p;
}

void dynamic_quantize(const float* x, int64_t n, const DynamicQuantParams& p, uint8_t* q) {
  const float divisor = p.scale == 0 ? 1.0f : p.scale;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, chunks > 1, [&](int64_t c) {
    vec::quantize_u8(x + c * kChunk, std::min(kChunk, n - c * kChunk), divisor, p.zero_point,
                     q + c * kChunk);
  });
}

namespace {

// (q - zero point) * factor for q as dynamic_quantize makes it, as floats.
void centred_times(const float* x, int64_t n, const DynamicQuantParams& p, float factor,
                   float* out) {
  const float divisor = p.scale == 0 ? 1.0f : p.scale;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, chunks > 1, [&](int64_t c) {
    const int64_t m = std::min(kChunk, n - c * kChunk);
    uint8_t q[kChunk];
    vec::quantize_u8(x + c * kChunk, m, divisor, p.zero_point, q);
    float* o = out + c * kChunk;
    for (int64_t i = 0; i < m; ++i)
      o[i] = static_cast<float>(static_cast<int>(q[i]) - p.zero_point) * factor;
  });
}

}  // namespace

void dynamic_quantize_centred(const float* x, int64_t n, const DynamicQuantParams& p, float* out) {
  centred_times(x, n, p, 1.0f, out);
}

void quantize_dequantize(const float* x, int64_t n, const DynamicQuantParams& p, float* out) {
  centred_times(x, n, p, p.scale, out);
}

}  // namespace sinter::cpu
