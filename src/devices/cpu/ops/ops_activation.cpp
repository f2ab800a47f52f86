// Parameterised activations (Elu, Selu, LeakyRelu, HardSigmoid, ...).
#include <cmath>

#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/elementwise.hpp"

namespace sinter::cpu {

namespace {

void op_elu(OpContext& ctx) {
  const double a = ctx.attr_f("alpha", 1.f);
  map_float_as_double(ctx, [a](double x) { return x >= 0 ? x : a * (std::exp(x) - 1); });
}
void op_selu(OpContext& ctx) {
  const double a = ctx.attr_f("alpha", 1.67326319217681884765625f);
  const double g = ctx.attr_f("gamma", 1.05070102214813232421875f);
  map_float_as_double(ctx, [a, g](double x) { return x > 0 ? g * x : g * (a * std::exp(x) - a); });
}
void op_leaky_relu(OpContext& ctx) {
  const double a = ctx.attr_f("alpha", 0.01f);
  map_float_as_double(ctx, [a](double x) { return x >= 0 ? x : a * x; });
}
void op_thresholded_relu(OpContext& ctx) {
  const double a = ctx.attr_f("alpha", 1.f);
  map_float_as_double(ctx, [a](double x) { return x > a ? x : 0.0; });
}
void op_hard_sigmoid(OpContext& ctx) {
  const double a = ctx.attr_f("alpha", 0.2f), b = ctx.attr_f("beta", 0.5f);
  map_float_as_double(ctx, [a, b](double x) { return std::max(0.0, std::min(1.0, a * x + b)); });
}
void op_hard_swish(OpContext& ctx) {
  map_float_as_double(ctx, [](double x) { return x * std::max(0.0, std::min(1.0, x / 6 + 0.5)); });
}
void op_celu(OpContext& ctx) {
  const double a = ctx.attr_f("alpha", 1.f);
  map_float_as_double(
      ctx, [a](double x) { return std::max(0.0, x) + std::min(0.0, a * (std::exp(x / a) - 1)); });
}
void op_mish(OpContext& ctx) {
  map_float_as_double(ctx, [](double x) { return x * std::tanh(std::log1p(std::exp(x))); });
}
void op_gelu(OpContext& ctx) {
  const bool tanh_approx = ctx.attr_s("approximate", "none") == "tanh";
  map_float_as_double(ctx, [tanh_approx](double x) {
    if (tanh_approx) {
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    }
    return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  });
}
void op_shrink(OpContext& ctx) {
  const double bias = ctx.attr_f("bias", 0.f), lambd = ctx.attr_f("lambd", 0.5f);
  const Tensor& x = ctx.input(0);
  dispatch_signed(x.element_type(), ctx, [&]<typename T>() {
    ctx.set_output(0, map_unary<T>(x, [&](auto v) {
                     const double d = static_cast<double>(v);
                     const double r = d < -lambd ? d + bias : (d > lambd ? d - bias : 0.0);
                     return static_cast<decltype(v)>(r);
                   }));
  });
}

}  // namespace

void register_activation_ops(KernelRegistry& r) {
  r.add("Elu", op_elu);
  r.add("Selu", op_selu);
  r.add("LeakyRelu", op_leaky_relu);
  r.add("ThresholdedRelu", op_thresholded_relu);
  r.add("HardSigmoid", op_hard_sigmoid);
  r.add("HardSwish", op_hard_swish);
  r.add("Celu", op_celu);
  r.add("Mish", op_mish);
  r.add("Gelu", op_gelu);
  r.add("Shrink", op_shrink);
}

}  // namespace sinter::cpu
