// ChannelLayerNorm (also made by norm_fusion.cpp): every position's channels of [N, C, ...]
// normalised, with per-channel scale and shift, in NCHW or channels-last.
// GroupNorm (domain sinter.cpu, made by norm_fusion.cpp): group normalisation of an f32 tensor
// [N, C, ...] with per-group and per-channel scale and shift and an optional SiLU, in one pass
// that reads the input twice (statistics, then the result) and writes once. The input and
// output are NCHW, or channels-last with the attribute layout = "channels_last" (between the
// convolutions of diffusion models' residual blocks, see layout_propagation.cpp).
#include <algorithm>
#include <cmath>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/column_totals.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"

namespace sinter::cpu {

namespace {

// An optional per-group or per-channel parameter: `count` f32 values, or `fallback` everywhere.
std::vector<float> parameter(const OpContext& ctx, std::size_t input, int64_t count,
                             float fallback) {
  const Tensor* t = ctx.optional_input(input);
  if (!t) return std::vector<float>(count, fallback);
  ctx.check(t->element_type() == ElementType::f32 && t->element_count() == count,
            "input {} must hold {} f32 values, got {} {}", input, count,
            to_string(t->element_type()), to_string(t->shape()));
  return std::vector<float>(t->data_as<float>(), t->data_as<float>() + count);
}

// Per-channel multiplier and offset of one sample: ((x - mean_g) inv_std_g gs + gb) cs + cb.
struct ChannelAffine {
  std::vector<float> mul, add;
};

ChannelAffine channel_affine(const std::vector<double>& mean, const std::vector<double>& inv_std,
                             int64_t per_group, const std::vector<float>& group_scale,
                             const std::vector<float>& group_bias,
                             const std::vector<float>& channel_scale,
                             const std::vector<float>& channel_bias) {
  const std::size_t channels = channel_scale.size();
  ChannelAffine a{std::vector<float>(channels), std::vector<float>(channels)};
  for (std::size_t c = 0; c < channels; ++c) {
    const std::size_t g = c / static_cast<std::size_t>(per_group);
    const double mul = inv_std[g] * group_scale[g] * channel_scale[c];
    a.mul[c] = static_cast<float>(mul);
    a.add[c] = static_cast<float>((group_bias[g] - mean[g] * inv_std[g] * group_scale[g]) *
                                      channel_scale[c] +
                                  channel_bias[c]);
  }
  return a;
}

// The channels-last form: statistics by column sums, the result row by row.
void group_norm_channels_last(const float* src, float* dst, int64_t N, int64_t C, int64_t spatial,
                              int64_t groups, double epsilon, bool swish, float alpha,
                              const std::vector<float>& group_scale,
                              const std::vector<float>& group_bias,
                              const std::vector<float>& channel_scale,
                              const std::vector<float>& channel_bias) {
  const int64_t per_group = C / groups;
  const double count = static_cast<double>(spatial * per_group);
  for (int64_t n = 0; n < N; ++n) {
    const float* x = src + n * spatial * C;
    float* y = dst + n * spatial * C;
    const auto sums = column_totals(spatial, C, [&](int64_t r0, int64_t rows, float* run) {
      vec::add_rows(x + r0 * C, rows, C, run);
    });
    std::vector<double> mean(groups, 0.0), inv_std(groups, 0.0);
    std::vector<float> channel_mean(C);
    for (int64_t c = 0; c < C; ++c) mean[c / per_group] += sums[c];
    for (int64_t g = 0; g < groups; ++g) mean[g] = count > 0 ? mean[g] / count : 0.0;
    for (int64_t c = 0; c < C; ++c) channel_mean[c] = static_cast<float>(mean[c / per_group]);
    const auto squares = column_totals(spatial, C, [&](int64_t r0, int64_t rows, float* run) {
      vec::add_squared_deviations(x + r0 * C, rows, C, channel_mean.data(), run);
    });
    std::vector<double> variance(groups, 0.0);
    for (int64_t c = 0; c < C; ++c) variance[c / per_group] += squares[c];
    for (int64_t g = 0; g < groups; ++g) {
      // Deviations were taken from the float mean; correct for its offset from the exact one.
      const double offset = mean[g] - static_cast<float>(mean[g]);
      const double var = count > 0 ? std::max(0.0, variance[g] / count - offset * offset) : 0.0;
      inv_std[g] = 1.0 / std::sqrt(var + epsilon);
    }
    const ChannelAffine a = channel_affine(mean, inv_std, per_group, group_scale, group_bias,
                                           channel_scale, channel_bias);
    constexpr int64_t kRows = 64;
#pragma omp parallel for schedule(static)
    for (int64_t r0 = 0; r0 < spatial; r0 += kRows) {
      const int64_t rows = std::min(kRows, spatial - r0);
      vec::scale_shift_rows(x + r0 * C, rows, C, a.mul.data(), a.add.data(), y + r0 * C);
      if (swish) vec::swish(y + r0 * C, rows * C, alpha);
    }
  }
}

void op_group_norm(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 2,
            "expects an f32 input of rank 2 or more, got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t groups = ctx.attr_i("groups", 0);
  ctx.check(groups > 0 && C % groups == 0, "{} groups do not divide {} channels", groups, C);
  const int64_t per_group = C / groups;
  const int64_t inner = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  const auto group_scale = parameter(ctx, 1, groups, 1.f);
  const auto group_bias = parameter(ctx, 2, groups, 0.f);
  const auto channel_scale = parameter(ctx, 3, C, 1.f);
  const auto channel_bias = parameter(ctx, 4, C, 0.f);
  const double epsilon = ctx.attr_f("epsilon", 1e-5f);
  const bool swish = ctx.attr_s("activation", "") == "swish";
  const float alpha = ctx.attr_f("alpha", 1.f);
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  if (ctx.attr_s("layout", "") == "channels_last") {
    group_norm_channels_last(src, dst, N, C, inner, groups, epsilon, swish, alpha, group_scale,
                             group_bias, channel_scale, channel_bias);
    ctx.set_output(0, out);
    return;
  }
  parallel_for(N * groups, true, [&](int64_t ng) {
    const int64_t g = ng % groups;
    const int64_t first = ng * per_group * inner;
    double mean = 0, variance = 0;
    vec::mean_and_variance(src + first, per_group * inner, mean, variance);
    const double inv_std = 1.0 / std::sqrt(variance + epsilon);
    for (int64_t k = 0; k < per_group; ++k) {
      const int64_t c = g * per_group + k;
      // ((x - mean) * inv_std * gs + gb) * cs + cb as one multiply-add per element.
      const double mul = inv_std * group_scale[g] * channel_scale[c];
      const double add =
          (group_bias[g] - mean * inv_std * group_scale[g]) * channel_scale[c] + channel_bias[c];
      const int64_t offset = first + k * inner;
      vec::scale_shift(src + offset, static_cast<float>(mul), static_cast<float>(add), dst + offset,
                       inner);
      if (swish) vec::swish(dst + offset, inner, alpha);
    }
  });
  ctx.set_output(0, out);
}

// ChannelLayerNorm in NCHW: the channels of one position lie `spatial` floats apart, so the
// statistics are kept per position for a run of positions and built channel row by row.
void channel_layer_norm_planar(const float* src, float* dst, int64_t N, int64_t C, int64_t spatial,
                               float epsilon, const float* gamma, const float* beta) {
  constexpr int64_t kRun = 256;
  const int64_t runs = (spatial + kRun - 1) / kRun;
  parallel_for(N * runs, true, [&](int64_t job) {
    const int64_t n = job / runs, first = job % runs * kRun;
    const int64_t len = std::min(kRun, spatial - first);
    const float* x = src + n * C * spatial + first;
    float* y = dst + n * C * spatial + first;
    float mean[kRun] = {}, squares[kRun] = {}, mul[kRun], add[kRun];
    for (int64_t c = 0; c < C; ++c) vec::add_rows(x + c * spatial, 1, len, mean);
    for (int64_t i = 0; i < len; ++i) mean[i] /= static_cast<float>(C);
    for (int64_t c = 0; c < C; ++c)
      vec::add_squared_deviations(x + c * spatial, 1, len, mean, squares);
    for (int64_t i = 0; i < len; ++i) {
      mul[i] = 1.f / std::sqrt(squares[i] / static_cast<float>(C) + epsilon);
      add[i] = -mean[i] * mul[i];
    }
    for (int64_t c = 0; c < C; ++c) {
      // (x - mean) / std, then this channel's scale and shift.
      vec::scale_shift_rows(x + c * spatial, 1, len, mul, add, y + c * spatial);
      vec::scale_shift(y + c * spatial, gamma[c], beta[c], y + c * spatial, len);
    }
  });
}

void op_channel_layer_norm(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 3,
            "expects an f32 image [N, C, ...], got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t spatial = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  const auto gamma = parameter(ctx, 1, C, 1.f);
  const auto beta = parameter(ctx, 2, C, 0.f);
  const float epsilon = ctx.attr_f("epsilon", 1e-5f);
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  if (ctx.attr_s("layout", "") == "channels_last" && out.element_count() > 0) {
    // Every position is a row of C contiguous channels: a layer norm over the rows' last axis.
    if (!layer_norm_over_rows(ctx, {N * spatial, C}, x.data_as<float>(), out.data_as<float>(),
                              gamma.data(), beta.data(), epsilon))
      ctx.fail(ErrorCategory::internal, "oneDNN cannot normalise {} channels-last",
               to_string(x.shape()));
  } else {
    channel_layer_norm_planar(x.data_as<float>(), out.data_as<float>(), N, C, spatial, epsilon,
                              gamma.data(), beta.data());
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_fused_norm_ops(KernelRegistry& r) {
  r.add("GroupNorm", op_group_norm, kCpuDomain);
  r.add("ChannelLayerNorm", op_channel_layer_norm, kCpuDomain);
}

}  // namespace sinter::cpu
