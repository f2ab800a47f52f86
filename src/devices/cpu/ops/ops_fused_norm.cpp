// GroupNorm (domain sinter.cpu, made by norm_fusion.cpp): group normalisation of an f32 tensor
// [N, C, ...] with per-group and per-channel scale and shift and an optional SiLU, in one pass
// that reads the input twice (statistics, then the result) and writes once.
#include <cmath>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
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
#pragma omp parallel for
  for (int64_t ng = 0; ng < N * groups; ++ng) {
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
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_fused_norm_ops(KernelRegistry& r) {
  r.add("GroupNorm", op_group_norm, kCpuDomain);
}

}  // namespace sinter::cpu
