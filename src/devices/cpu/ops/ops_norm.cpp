// Normalisation: BatchNormalization, InstanceNormalization, LayerNormalization,
// GroupNormalization, LRN, MeanVarianceNormalization, LpNormalization.
#include <cmath>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

void op_batch_norm(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() >= 2, "input must have rank >= 2");
  const auto scale = to_double_vector(ctx, ctx.input(1)),
             bias = to_double_vector(ctx, ctx.input(2));
  auto mean = to_double_vector(ctx, ctx.input(3)), var = to_double_vector(ctx, ctx.input(4));
  const double eps = ctx.attr_f("epsilon", 1e-5f);
  const double momentum = ctx.attr_f("momentum", 0.9f);
  const bool training = ctx.attr_i("training_mode", 0) != 0;
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t inner = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  ctx.check(static_cast<int64_t>(scale.size()) == C && static_cast<int64_t>(mean.size()) == C,
            "scale/mean must have {} (channels) elements", C);
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  const double* px = xd.data_as<double>();
  std::vector<double> use_mean = mean, use_var = var;
  if (training) {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, sq = 0;
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t i = 0; i < inner; ++i) {
          const double v = px[(n * C + c) * inner + i];
          s += v;
          sq += v * v;
        }
      }
      const double cnt = static_cast<double>(N * inner);
      use_mean[c] = s / cnt;
      use_var[c] = sq / cnt - use_mean[c] * use_mean[c];
    }
  }
  Tensor yd(ElementType::f64, x.shape());
  double* py = yd.data_as<double>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const double k = scale[c] / std::sqrt(use_var[c] + eps);
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t off = (n * C + c) * inner + i;
        py[off] = (px[off] - use_mean[c]) * k + bias[c];
      }
    }
  }
  ctx.set_output(0, convert_tensor(ctx, yd, x.element_type()));
  if (training) {
    Tensor rm(ElementType::f64, {C}), rv(ElementType::f64, {C});
    for (int64_t c = 0; c < C; ++c) {
      rm.data_as<double>()[c] = mean[c] * momentum + use_mean[c] * (1 - momentum);
      rv.data_as<double>()[c] = var[c] * momentum + use_var[c] * (1 - momentum);
    }
    ctx.set_output(1, convert_tensor(ctx, rm, ctx.input(3).element_type()));
    ctx.set_output(2, convert_tensor(ctx, rv, ctx.input(4).element_type()));
  }
}

// Normalises each of `groups` contiguous blocks of `size` elements; returns mean and 1/std.
template <typename T>
void normalize_blocks(const T* x, double* y, int64_t groups, int64_t size, double eps,
                      std::vector<double>& means, std::vector<double>& inv_stds) {
  means.resize(groups);
  inv_stds.resize(groups);
  parallel_for(groups, groups * size > 65536, [&](int64_t g) {
    double s = 0;
    for (int64_t i = 0; i < size; ++i)
      s += static_cast<double>(static_cast<compute_t<T>>(x[g * size + i]));
    const double mean = size ? s / static_cast<double>(size) : 0;
    double sq = 0;
    for (int64_t i = 0; i < size; ++i) {
      const double d = static_cast<double>(static_cast<compute_t<T>>(x[g * size + i])) - mean;
      sq += d * d;
    }
    const double inv = 1.0 / std::sqrt((size ? sq / static_cast<double>(size) : 0) + eps);
    for (int64_t i = 0; i < size; ++i) {
      y[g * size + i] =
          (static_cast<double>(static_cast<compute_t<T>>(x[g * size + i])) - mean) * inv;
    }
    means[g] = mean;
    inv_stds[g] = inv;
  });
}

// f32 with f32 parameters: statistics accumulated in double per (n, c) plane, the result
// written in f32 directly (no f64 intermediate tensor).
bool instance_norm_f32(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor& bias = ctx.input(2);
  if (x.element_type() != ElementType::f32 || scale.element_type() != ElementType::f32 ||
      bias.element_type() != ElementType::f32 || x.rank() < 2)
    return false;
  const int64_t N = x.shape()[0], C = x.shape()[1];
  ctx.check(scale.element_count() == C && bias.element_count() == C,
            "scale and B must have {} elements", C);
  const int64_t inner = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  const double eps = ctx.attr_f("epsilon", 1e-5f);
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  const float* sc = scale.data_as<float>();
  const float* bi = bias.data_as<float>();
  parallel_for(N * C, true, [&](int64_t g) {
    const float* in = src + g * inner;
    double sum = 0;
    for (int64_t i = 0; i < inner; ++i) sum += in[i];
    const double mean = inner ? sum / static_cast<double>(inner) : 0.0;
    double sq = 0;
    for (int64_t i = 0; i < inner; ++i) sq += (in[i] - mean) * (in[i] - mean);
    const double var = inner ? sq / static_cast<double>(inner) : 0.0;
    const float mul = static_cast<float>(sc[g % C] / std::sqrt(var + eps));
    const float add = static_cast<float>(bi[g % C] - mean * mul);
    float* o = dst + g * inner;
    for (int64_t i = 0; i < inner; ++i) o[i] = in[i] * mul + add;
  });
  ctx.set_output(0, out);
  return true;
}

void op_instance_norm(OpContext& ctx) {
  if (instance_norm_f32(ctx)) return;
  const Tensor& x = ctx.input(0);
  const auto scale = to_double_vector(ctx, ctx.input(1)),
             bias = to_double_vector(ctx, ctx.input(2));
  const double eps = ctx.attr_f("epsilon", 1e-5f);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t inner = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  ctx.check(static_cast<int64_t>(scale.size()) == C, "scale must have {} elements", C);
  Tensor yd(ElementType::f64, x.shape());
  std::vector<double> m, inv;
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    normalize_blocks(x.data_as<T>(), yd.data_as<double>(), N * C, inner, eps, m, inv);
  });
  double* py = yd.data_as<double>();
  for (int64_t g = 0; g < N * C; ++g) {
    for (int64_t i = 0; i < inner; ++i)
      py[g * inner + i] = py[g * inner + i] * scale[g % C] + bias[g % C];
  }
  ctx.set_output(0, convert_tensor(ctx, yd, x.element_type()));
}

void op_group_norm(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto scale = to_double_vector(ctx, ctx.input(1)),
             bias = to_double_vector(ctx, ctx.input(2));
  const double eps = ctx.attr_f("epsilon", 1e-5f);
  const int64_t groups = ctx.attr_i("num_groups", 0);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  ctx.check(groups > 0 && C % groups == 0, "num_groups {} must divide {} channels", groups, C);
  const int64_t inner = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  const int64_t per_group = C / groups;
  // Opset 18 gives one scale per group; opset 21 one per channel. Accept either.
  const bool per_channel = static_cast<int64_t>(scale.size()) == C;
  ctx.check(per_channel || static_cast<int64_t>(scale.size()) == groups,
            "scale has {} elements; expected {} (channels) or {} (groups)", scale.size(), C,
            groups);
  Tensor yd(ElementType::f64, x.shape());
  std::vector<double> m, inv;
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    normalize_blocks(x.data_as<T>(), yd.data_as<double>(), N * groups, per_group * inner, eps, m,
                     inv);
  });
  double* py = yd.data_as<double>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = per_channel ? c : c / per_group;
      for (int64_t i = 0; i < inner; ++i) {
        double& v = py[(n * C + c) * inner + i];
        v = v * scale[k] + bias[k];
      }
    }
  }
  ctx.set_output(0, convert_tensor(ctx, yd, x.element_type()));
}

void op_layer_norm(OpContext& ctx) {
  if (layer_norm_fast_path(ctx)) return;
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", -1), x.rank());
  const double eps = ctx.attr_f("epsilon", 1e-5f);
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  const int64_t size = outer ? x.element_count() / outer : 0;
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  Tensor yd(ElementType::f64, x.shape());
  std::vector<double> mean, inv;
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    normalize_blocks(x.data_as<T>(), yd.data_as<double>(), outer, size, eps, mean, inv);
  });
  // Scale and bias broadcast against the normalised trailing shape.
  const Tensor sd = convert_tensor(ctx, scale, ElementType::f64);
  const Tensor bd = bias ? convert_tensor(ctx, *bias, ElementType::f64) : Tensor();
  const auto ss = broadcast_strides(scale.shape(), norm_shape);
  const auto bs = bias ? broadcast_strides(bias->shape(), norm_shape)
                       : std::vector<int64_t>(norm_shape.size(), 0);
  std::vector<int64_t> s_off(size), b_off(size);
  for_each_index2(norm_shape, ss, bs, [&](int64_t i, int64_t a, int64_t b) {
    s_off[i] = a;
    b_off[i] = b;
  });
  double* py = yd.data_as<double>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < size; ++i) {
      double& v = py[o * size + i];
      v = v * sd.data_as<double>()[s_off[i]] + (bias ? bd.data_as<double>()[b_off[i]] : 0.0);
    }
  }
  ctx.set_output(0, convert_tensor(ctx, yd, x.element_type()));
  Shape stat_shape = x.shape();
  for (int64_t d = axis; d < x.rank(); ++d) stat_shape[d] = 1;
  const auto stash = static_cast<ElementType>(ctx.attr_i("stash_type", 1));
  Tensor mt(ElementType::f64, stat_shape), it(ElementType::f64, stat_shape);
  std::copy(mean.begin(), mean.end(), mt.data_as<double>());
  std::copy(inv.begin(), inv.end(), it.data_as<double>());
  ctx.set_output(1, convert_tensor(ctx, mt, stash));
  ctx.set_output(2, convert_tensor(ctx, it, stash));
}

void op_lrn(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const double alpha = ctx.attr_f("alpha", 1e-4f), beta = ctx.attr_f("beta", 0.75f),
               bias = ctx.attr_f("bias", 1.f);
  const int64_t size = ctx.attr_i("size", 0);
  ctx.check(size > 0, "size must be positive");
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t inner = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  Tensor yd(ElementType::f64, x.shape());
  const double* px = xd.data_as<double>();
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = 0; i < inner; ++i) {
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, c - lo); k <= std::min(C - 1, c + hi); ++k) {
          const double v = px[(n * C + k) * inner + i];
          sq += v * v;
        }
        const int64_t off = (n * C + c) * inner + i;
        yd.data_as<double>()[off] = px[off] / std::pow(bias + alpha / size * sq, beta);
      }
    }
  }
  ctx.set_output(0, convert_tensor(ctx, yd, x.element_type()));
}

void op_mvn(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto axes = ctx.attr_ints("axes", {0, 2, 3});
  std::vector<bool> reduced(x.rank(), false);
  for (int64_t a : axes) reduced[normalize_axis(ctx, a, x.rank())] = true;
  Shape kept = x.shape();
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (reduced[d]) kept[d] = 1;
  }
  auto ks = strides_of(kept);
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (reduced[d]) ks[d] = 0;
  }
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  const double* px = xd.data_as<double>();
  const int64_t groups = element_count(kept);
  const double count = groups ? static_cast<double>(x.element_count() / groups) : 1;
  std::vector<double> sum(groups, 0), sq(groups, 0);
  const auto xs = strides_of(x.shape());
  for_each_index2(x.shape(), xs, ks, [&](int64_t, int64_t i, int64_t g) {
    sum[g] += px[i];
    sq[g] += px[i] * px[i];
  });
  Tensor yd(ElementType::f64, x.shape());
  for_each_index2(x.shape(), xs, ks, [&](int64_t, int64_t i, int64_t g) {
    const double mean = sum[g] / count;
    const double var = sq[g] / count - mean * mean;
    yd.data_as<double>()[i] = (px[i] - mean) / (std::sqrt(std::max(var, 0.0)) + 1e-9);
  });
  ctx.set_output(0, convert_tensor(ctx, yd, x.element_type()));
}

void op_lp_norm(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", -1), x.rank());
  const int64_t p = ctx.attr_i("p", 2);
  ctx.check(p == 1 || p == 2, "p must be 1 or 2, got {}", p);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const int64_t n = x.shape()[axis];
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  Tensor yd(ElementType::f64, x.shape());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double norm = 0;
      for (int64_t k = 0; k < n; ++k) {
        const double v = xd.data_as<double>()[(o * n + k) * inner + i];
        norm += p == 1 ? std::fabs(v) : v * v;
      }
      if (p == 2) norm = std::sqrt(norm);
      for (int64_t k = 0; k < n; ++k) {
        const int64_t off = (o * n + k) * inner + i;
        yd.data_as<double>()[off] = norm == 0 ? 0 : xd.data_as<double>()[off] / norm;
      }
    }
  }
  ctx.set_output(0, convert_tensor(ctx, yd, x.element_type()));
}

}  // namespace

void register_norm_ops(KernelRegistry& r) {
  r.add("BatchNormalization", op_batch_norm);
  r.add("InstanceNormalization", op_instance_norm);
  r.add("GroupNormalization", op_group_norm);
  r.add("LayerNormalization", op_layer_norm);
  r.add("LRN", op_lrn);
  r.add("MeanVarianceNormalization", op_mvn);
  r.add("LpNormalization", op_lp_norm);
}

}  // namespace sinter::cpu
