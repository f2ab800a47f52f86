// Swish, GeluErf and GeluTanh (domain sinter.cpu, made by activation_fusion.cpp): oneDNN's eltwise
// primitive for f32, a plain loop for the other float types.
#include <cmath>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/elementwise.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"

namespace sinter::cpu {

namespace {

void op_swish(OpContext& ctx) {
  const float alpha = ctx.attr_f("alpha", 1.f);
  if (unary_fast_path(ctx, "swish", alpha)) return;
  map_float_as_double(ctx, [alpha](double x) { return x / (1 + std::exp(-alpha * x)); });
}

void op_gelu_erf(OpContext& ctx) {
  if (unary_fast_path(ctx, "gelu_erf")) return;
  map_float_as_double(ctx, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); });
}

void op_gelu_tanh(OpContext& ctx) {
  if (unary_fast_path(ctx, "gelu_tanh")) return;
  map_float_as_double(ctx, [](double x) {
    return 0.5 * x *
           (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
  });
}

}  // namespace

void register_fused_activation_ops(KernelRegistry& r) {
  r.add("Swish", op_swish, kCpuDomain);
  r.add("GeluErf", op_gelu_erf, kCpuDomain);
  r.add("GeluTanh", op_gelu_tanh, kCpuDomain);
}

}  // namespace sinter::cpu
