// The internal ops that let squeeze-and-excitation blocks stay in the convolutions' channels-last
// layout (layout_propagation.cpp): GlobalAveragePool over an NHWC input and ChannelScale, the
// Mul of an NHWC tensor by one value per channel (and sample). Logical shapes stay NCHW; only
// the element order differs. Both also take plain NCHW when the layout attribute is absent.
#include <algorithm>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

bool channels_last(const OpContext& ctx, const char* attr) {
  return ctx.attr_s(attr, "") == "channels_last";
}

void check_f32_image(const OpContext& ctx, const Tensor& x) {
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 3,
            "expects an f32 tensor [N, C, spatial...], got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
}

void op_global_average_pool(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  check_f32_image(ctx, x);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t spatial = N * C > 0 ? x.element_count() / (N * C) : 0;
  Shape out_shape = {N, C};
  out_shape.resize(x.shape().size(), 1);
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  const float inv = spatial > 0 ? 1.0f / static_cast<float>(spatial) : 0.0f;
  const bool nhwc = channels_last(ctx, "src_layout");
  // Blocks of channels per sample, in parallel; NHWC rows are summed lane-wise over channels.
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for if (N * C * spatial > 16384)
  for (int64_t task = 0; task < N * blocks; ++task) {
    const int64_t n = task / blocks, c0 = (task % blocks) * kBlock;
    const int64_t width = std::min(kBlock, C - c0);
    float acc[kBlock] = {};
    if (nhwc) {
      const float* base = src + n * spatial * C + c0;
      for (int64_t s = 0; s < spatial; ++s)
        for (int64_t c = 0; c < width; ++c) acc[c] += base[s * C + c];
    } else {
      for (int64_t c = 0; c < width; ++c) {
        const float* plane = src + (n * C + c0 + c) * spatial;
        for (int64_t s = 0; s < spatial; ++s) acc[c] += plane[s];
      }
    }
    for (int64_t c = 0; c < width; ++c) dst[n * C + c0 + c] = acc[c] * inv;
  }
  ctx.set_output(0, out);
}

void op_channel_scale(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& s = ctx.input(1);
  check_f32_image(ctx, x);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t spatial = N * C > 0 ? x.element_count() / (N * C) : 0;
  ctx.check(s.element_type() == ElementType::f32 &&
                (s.element_count() == C || s.element_count() == N * C),
            "scale {} {} is not one f32 value per channel (and sample) of {}",
            to_string(s.element_type()), to_string(s.shape()), to_string(x.shape()));
  const bool per_sample = s.element_count() == N * C && N > 1;
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  const float* src = x.data_as<float>();
  const float* scale = s.data_as<float>();
  float* dst = out.data_as<float>();
  const bool nhwc = channels_last(ctx, "layout");
#pragma omp parallel for if (N * C * spatial > 16384)
  for (int64_t row = 0; row < N * (nhwc ? spatial : C); ++row) {
    const int64_t n = nhwc ? row / spatial : row / C;
    const float* sc = scale + (per_sample ? n * C : 0);
    const float* in = src + (nhwc ? row * C : row * spatial);
    float* o = dst + (nhwc ? row * C : row * spatial);
    if (nhwc) {
      for (int64_t c = 0; c < C; ++c) o[c] = in[c] * sc[c];
    } else {
      const float f = sc[row % C];
      for (int64_t i = 0; i < spatial; ++i) o[i] = in[i] * f;
    }
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_channels_last_ops(KernelRegistry& r) {
  r.add("GlobalAveragePool", op_global_average_pool, kCpuDomain);
  r.add("ChannelScale", op_channel_scale, kCpuDomain);
}

}  // namespace sinter::cpu
