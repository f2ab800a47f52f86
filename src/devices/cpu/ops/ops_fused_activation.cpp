// Swish, GeluErf and GeluTanh (domain sinter.cpu, made by activation_fusion.cpp): oneDNN's eltwise
// primitive for f32, a plain loop for the other float types. GatedGelu (gated_gelu_fusion.cpp):
// a GEGLU feed-forward's gate in one pass over the product's output.
#include <cmath>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/elementwise.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"

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

// x's last dimension in two halves, values and gates (attribute gate: which half gates), gives
// values * gelu(gates): what Split, GeluErf and Mul gave, without the two halves' copies.
void op_gated_gelu(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 1 && x.shape().back() % 2 == 0,
            "expects f32 input whose last dimension splits in two halves, got {} {}",
            to_string(x.element_type()), to_string(x.shape()));
  const int64_t gate = ctx.attr_i("gate", 1);
  ctx.check(gate == 0 || gate == 1, "gate must be 0 or 1, got {}", gate);
  Shape out_shape = x.shape();
  const int64_t half = out_shape.back() / 2;
  out_shape.back() = half;
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  const int64_t rows = half > 0 ? out.element_count() / half : 0;
  const float* in = x.data_as<float>();
  float* y = out.data_as<float>();
  constexpr int64_t kMinParallelElements = 1 << 15;
  parallel_for(rows, out.element_count() >= kMinParallelElements, [&](int64_t r) {
    const float* row = in + r * 2 * half;
    vec::gated_gelu(row + (1 - gate) * half, row + gate * half, y + r * half, half);
  });
  ctx.set_output(0, out);
}

}  // namespace

void register_fused_activation_ops(KernelRegistry& r) {
  r.add("Swish", op_swish, kCpuDomain);
  r.add("GeluErf", op_gelu_erf, kCpuDomain);
  r.add("GeluTanh", op_gelu_tanh, kCpuDomain);
  r.add("GatedGelu", op_gated_gelu, kCpuDomain);
}

}  // namespace sinter::cpu
