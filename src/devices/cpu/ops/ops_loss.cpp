// Loss operators: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
#include <cmath>
#include <limits>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

// NLL over log-probabilities `logp` [N, C, d...] (as doubles) and integer targets [N, d...].
Tensor nll(const OpContext& ctx, const Tensor& logp, const Shape& shape, const Tensor& target,
           const Tensor* weight, ElementType out_type) {
  const std::string reduction = ctx.attr_s("reduction", "mean");
  ctx.check(reduction == "none" || reduction == "sum" || reduction == "mean",
            "unknown reduction '{}'", reduction);
  const bool has_ignore = ctx.has_attr("ignore_index");
  const int64_t ignore = ctx.attr_i("ignore_index", 0);
  ctx.check(shape.size() >= 2, "input must have rank >= 2");
  const int64_t N = shape[0], C = shape[1];
  const int64_t inner = N > 0 && C > 0 ? element_count(shape) / (N * C) : 0;
  const auto labels = to_int64_vector(ctx, target);
  ctx.check(static_cast<int64_t>(labels.size()) == N * inner, "target has {} elements, expected {}",
            labels.size(), N * inner);
  std::vector<double> w(C, 1.0);
  if (weight) {
    const Tensor wd = convert_tensor(ctx, *weight, ElementType::f64);
    for (int64_t c = 0; c < C; ++c) w[c] = wd.data_as<double>()[c];
  }
  const double* lp = logp.data_as<double>();
  Tensor losses(ElementType::f64, target.shape());
  double total = 0, weight_sum = 0;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t t = labels[n * inner + i];
      double l = 0, wt = 0;
      if (!(has_ignore && t == ignore)) {
        ctx.check(t >= 0 && t < C, "target {} is outside [0, {})", t, C);
        wt = w[t];
        l = -lp[(n * C + t) * inner + i] * wt;
      }
      losses.data_as<double>()[n * inner + i] = l;
      total += l;
      weight_sum += wt;
    }
  }
  if (reduction == "none") return convert_tensor(ctx, losses, out_type);
  Tensor r(ElementType::f64, {});
  r.data_as<double>()[0] = reduction == "sum" ? total : total / weight_sum;
  return convert_tensor(ctx, r, out_type);
}

void op_nll_loss(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  ctx.set_output(0, nll(ctx, xd, x.shape(), ctx.input(1), ctx.optional_input(2), x.element_type()));
}

void op_softmax_cross_entropy(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() >= 2, "scores must have rank >= 2");
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t inner = N > 0 && C > 0 ? x.element_count() / (N * C) : 0;
  Tensor logp(ElementType::f64, x.shape());
  const double* px = xd.data_as<double>();
  double* pl = logp.data_as<double>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < inner; ++i) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < C; ++c) mx = std::max(mx, px[(n * C + c) * inner + i]);
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::exp(px[(n * C + c) * inner + i] - mx);
      const double lse = mx + std::log(s);
      for (int64_t c = 0; c < C; ++c)
        pl[(n * C + c) * inner + i] = px[(n * C + c) * inner + i] - lse;
    }
  }
  ctx.set_output(0,
                 nll(ctx, logp, x.shape(), ctx.input(1), ctx.optional_input(2), x.element_type()));
  if (ctx.wants_output(1)) ctx.set_output(1, convert_tensor(ctx, logp, x.element_type()));
}

}  // namespace

void register_loss_ops(KernelRegistry& r) {
  r.add("NegativeLogLikelihoodLoss", op_nll_loss);
  r.add("SoftmaxCrossEntropyLoss", op_softmax_cross_entropy);
}

}  // namespace sinter::cpu
