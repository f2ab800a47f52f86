// Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
// ConvInteger, QLinearMatMul, QLinearConv, and the CPU's QuantizeDequantize. Integer products are
// computed exactly (in double, which holds every int32 accumulator value these ops produce) and
// requantized with round-half-to-even and saturation, as the spec says.
#include <cmath>
#include <limits>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/dynamic_quant.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

Tensor conv_reference_f64(const OpContext& ctx, const Tensor& x, const Tensor& w,
                          const ConvGeometry& g);

namespace {

// Per-element parameter along `axis` (scalar or 1-D of that axis' length), as doubles.
std::vector<double> param_along(const OpContext& ctx, const Tensor* p, const Shape& shape,
                                int64_t axis, std::vector<int64_t>& stride_out) {
  std::vector<double> v = {0.0};
  if (p) {
    const Tensor d = convert_tensor(ctx, *p, ElementType::f64);
    v.assign(d.data_as<double>(), d.data_as<double>() + d.element_count());
  }
  stride_out.assign(shape.size(), 0);
  if (v.size() > 1) {
    ctx.check(
        axis < static_cast<int64_t>(shape.size()) && static_cast<int64_t>(v.size()) == shape[axis],
        "per-axis parameter has {} values, axis {} of {} needs {}", v.size(), axis,
        to_string(shape), axis < static_cast<int64_t>(shape.size()) ? shape[axis] : -1);
    stride_out[axis] = 1;
  }
  return v;
}

int64_t index_along(int64_t flat, const Shape& shape, int64_t axis) {
  int64_t inner = 1;
  for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  return (flat / inner) % shape[axis];
}

template <typename Q>
Q saturate(double v) {
  // For 64-bit Q, max() as a double rounds up to 2^63 (2^64), one past the range: converting
  // that back would be undefined, so values at or beyond a bound return the bound itself.
  const double upper = static_cast<double>(std::numeric_limits<Q>::max());
  const double lower = static_cast<double>(std::numeric_limits<Q>::lowest());
  v = std::nearbyint(v);
  if (std::isnan(v)) return Q{0};
  if (v >= upper) return std::numeric_limits<Q>::max();
  if (v <= lower) return std::numeric_limits<Q>::lowest();
  return static_cast<Q>(v);
}

Tensor quantize(const OpContext& ctx, const Tensor& xd, const std::vector<double>& scale,
                const std::vector<double>& zp, int64_t axis, ElementType out_type,
                bool float32_division = false) {
  Tensor out(out_type, xd.shape());
  dispatch_integer(out_type, ctx, [&]<typename Q>() {
    for (int64_t i = 0; i < xd.element_count(); ++i) {
      const int64_t k = scale.size() > 1 ? index_along(i, xd.shape(), axis) : 0;
      const double z = zp.size() > 1 ? zp[k] : zp[0];
      // float32 inputs divide in float32, as the spec's reference implementation does.
      const double q = float32_division
                           ? static_cast<double>(static_cast<float>(xd.data_as<double>()[i]) /
                                                 static_cast<float>(scale[k]))
                           : xd.data_as<double>()[i] / scale[k];
      out.data_as<Q>()[i] = saturate<Q>(std::nearbyint(q) + z);
    }
  });
  return out;
}

// QuantizeLinear's and DequantizeLinear's inputs 1 and 2: scale and zero point, per tensor or
// along `axis`.
struct LinearQuantParams {
  int64_t axis = 0;
  std::vector<double> scale, zero_point;
};

LinearQuantParams read_linear_quant_params(const OpContext& ctx, const Tensor& x) {
  LinearQuantParams p;
  // The axis only matters (and is only checked) for per-axis scales.
  p.axis =
      ctx.input(1).element_count() > 1 ? normalize_axis(ctx, ctx.attr_i("axis", 1), x.rank()) : 0;
  std::vector<int64_t> st;
  p.scale = param_along(ctx, &ctx.input(1), x.shape(), p.axis, st);
  p.zero_point = param_along(ctx, ctx.optional_input(2), x.shape(), p.axis, st);
  return p;
}

void op_quantize_linear(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.optional_input(2);
  // f32 values, one positive f32 scale, uint8 or int8 codes: the vectorised quantization the
  // quantized kernels use (x / scale in float, ties to even, saturated), int8 codes as the
  // uint8 ones less 128.
  if (x.element_type() == ElementType::f32 && scale.element_type() == ElementType::f32 &&
      scale.element_count() == 1 && scale.data_as<float>()[0] > 0 &&
      std::isfinite(scale.data_as<float>()[0]) &&
      (!zp || (zp->element_count() == 1 &&
               (zp->element_type() == ElementType::u8 || zp->element_type() == ElementType::i8)))) {
    const bool int8 = zp && zp->element_type() == ElementType::i8;
    DynamicQuantParams q;
    q.scale = scale.data_as<float>()[0];
    q.zero_point = !zp ? 0 : int8 ? zp->data_as<int8_t>()[0] + 128 : zp->data_as<uint8_t>()[0];
    Tensor y = Tensor::uninitialized(int8 ? ElementType::i8 : ElementType::u8, x.shape());
    uint8_t* codes = static_cast<uint8_t*>(y.data());
    dynamic_quantize(x.data_as<float>(), x.element_count(), q, codes);
    if (int8) {
      const int64_t n = x.element_count();
      parallel_for(n, n > (1 << 16), [&](int64_t i) { codes[i] ^= 0x80; });  // q - 128
    }
    ctx.set_output(0, y);
    return;
  }
  const LinearQuantParams p = read_linear_quant_params(ctx, x);
  const Tensor* zpt = ctx.optional_input(2);
  const ElementType out_type = zpt ? zpt->element_type() : ElementType::u8;
  ctx.set_output(0, quantize(ctx, convert_tensor(ctx, x, ElementType::f64), p.scale, p.zero_point,
                             p.axis, out_type, x.element_type() == ElementType::f32));
}

// uint8 or int8 codes with one f32 scale and zero point: (q - z) * s in float, the exact product
// rounded once, as the double computation below gives it.
template <typename Q>
void dequantize_per_tensor(const Tensor& x, float scale, int zero_point, Tensor& y) {
  const Q* q = x.data_as<Q>();
  float* out = y.data_as<float>();
  const int64_t n = x.element_count();
  parallel_for(n, n > (1 << 16),
               [&](int64_t i) { out[i] = static_cast<float>(q[i] - zero_point) * scale; });
}

void op_dequantize_linear(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor* zp = ctx.optional_input(2);
  if ((x.element_type() == ElementType::u8 || x.element_type() == ElementType::i8) &&
      ctx.input(1).element_type() == ElementType::f32 && ctx.input(1).element_count() == 1 &&
      (!zp || (zp->element_count() == 1 && zp->element_type() == x.element_type()))) {
    const float scale = ctx.input(1).data_as<float>()[0];
    Tensor y = Tensor::uninitialized(ElementType::f32, x.shape());
    if (x.element_type() == ElementType::u8)
      dequantize_per_tensor<uint8_t>(x, scale, zp ? zp->data_as<uint8_t>()[0] : 0, y);
    else
      dequantize_per_tensor<int8_t>(x, scale, zp ? zp->data_as<int8_t>()[0] : 0, y);
    ctx.set_output(0, y);
    return;
  }
  const LinearQuantParams p = read_linear_quant_params(ctx, x);
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  Tensor yd(ElementType::f64, x.shape());
  for (int64_t i = 0; i < x.element_count(); ++i) {
    const int64_t k = p.scale.size() > 1 ? index_along(i, x.shape(), p.axis) : 0;
    const double z = p.zero_point.size() > 1 ? p.zero_point[k] : p.zero_point[0];
    yd.data_as<double>()[i] = (xd.data_as<double>()[i] - z) * p.scale[k];
  }
  ctx.set_output(0, convert_tensor(ctx, yd, ctx.input(1).element_type()));
}

void op_dynamic_quantize_linear(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor xf =
      x.element_type() == ElementType::f32 ? x : convert_tensor(ctx, x, ElementType::f32);
  const float* data = xf.data_as<float>();
  const DynamicQuantParams p = dynamic_quant_params(data, xf.element_count());
  Tensor y = Tensor::uninitialized(ElementType::u8, x.shape());
  dynamic_quantize(data, xf.element_count(), p, y.data_as<uint8_t>());
  ctx.set_output(0, y);
  Tensor st(ElementType::f32, {});
  st.data_as<float>()[0] = p.scale;
  Tensor zt(ElementType::u8, {});
  zt.data_as<uint8_t>()[0] = static_cast<uint8_t>(p.zero_point);
  ctx.set_output(1, st);
  ctx.set_output(2, zt);
}

// (x - zero_point) as doubles; zero point scalar or per-row/per-column along `axis`.
Tensor centered(const OpContext& ctx, const Tensor& x, const Tensor* zp, int64_t axis) {
  Tensor d = convert_tensor(ctx, x, ElementType::f64);
  if (!zp) return d;
  const Tensor z = convert_tensor(ctx, *zp, ElementType::f64);
  Tensor out(ElementType::f64, x.shape());
  for (int64_t i = 0; i < x.element_count(); ++i) {
    const int64_t k = z.element_count() > 1 ? index_along(i, x.shape(), axis) : 0;
    out.data_as<double>()[i] = d.data_as<double>()[i] - z.data_as<double>()[k];
  }
  return out;
}

// Batched matmul of two f64 tensors with NumPy broadcasting (as MatMul).
Tensor matmul_f64(const OpContext& ctx, Tensor a, Tensor b) {
  const bool a_vec = a.rank() == 1, b_vec = b.rank() == 1;
  if (a_vec) a = a.reshaped({1, a.shape()[0]});
  if (b_vec) b = b.reshaped({b.shape()[0], 1});
  const int64_t m = a.shape()[a.rank() - 2], k = a.shape()[a.rank() - 1],
                n = b.shape()[b.rank() - 1];
  ctx.check(k == b.shape()[b.rank() - 2], "inner dimensions differ");
  const Shape ab(a.shape().begin(), a.shape().end() - 2),
      bb(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(ctx, ab, bb);
  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  Tensor out(ElementType::f64, out_shape);
  const double* pa = a.data_as<double>();
  const double* pb = b.data_as<double>();
  double* pc = out.data_as<double>();
  for_each_index2(batch, broadcast_strides(ab, batch), broadcast_strides(bb, batch),
                  [&](int64_t bi, int64_t oa, int64_t ob) {
                    for (int64_t i = 0; i < m; ++i) {
                      for (int64_t j = 0; j < n; ++j) {
                        double acc = 0;
                        for (int64_t p = 0; p < k; ++p)
                          acc += pa[oa * m * k + i * k + p] * pb[ob * k * n + p * n + j];
                        pc[bi * m * n + i * n + j] = acc;
                      }
                    }
                  });
  return out;
}

void op_matmul_integer(OpContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor ac = centered(ctx, a, ctx.optional_input(2), a.rank() - 2 >= 0 ? a.rank() - 2 : 0);
  const Tensor bc = centered(ctx, b, ctx.optional_input(3), b.rank() - 1);
  ctx.set_output(0, convert_tensor(ctx, matmul_f64(ctx, ac, bc), ElementType::i32));
}

void op_qlinear_matmul(OpContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(3);
  const Tensor ac = centered(ctx, a, ctx.optional_input(2), a.rank() - 2);
  const Tensor bc = centered(ctx, b, ctx.optional_input(5), b.rank() - 1);
  Tensor acc = matmul_f64(ctx, ac, bc);
  const double as = scalar_as_double(ctx, ctx.input(1)), ys = scalar_as_double(ctx, ctx.input(6));
  const Tensor bs = convert_tensor(ctx, ctx.input(4), ElementType::f64);
  const int64_t n = acc.shape().back();
  for (int64_t i = 0; i < acc.element_count(); ++i) {
    const double s = bs.element_count() > 1 ? bs.data_as<double>()[i % n] : bs.data_as<double>()[0];
    acc.data_as<double>()[i] *= as * s / ys;
  }
  const Tensor* yzp = ctx.optional_input(7);
  const double z = yzp ? scalar_as_double(ctx, *yzp) : 0;
  const ElementType out_type = yzp ? yzp->element_type() : a.element_type();
  ctx.set_output(0, quantize(ctx, acc, {1.0}, {z}, 0, out_type));
}

void op_conv_integer(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor xc = centered(ctx, x, ctx.optional_input(2), 1);
  const Tensor wc = centered(ctx, w, ctx.optional_input(3), 0);
  const ConvGeometry g = conv_geometry(ctx, x.shape(), w.shape(), false);
  ctx.set_output(0, convert_tensor(ctx, conv_reference_f64(ctx, xc, wc, g), ElementType::i32));
}

void op_qlinear_conv(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(3);
  const Tensor xc = centered(ctx, x, ctx.optional_input(2), 1);
  const Tensor wc = centered(ctx, w, ctx.optional_input(5), 0);
  const ConvGeometry g = conv_geometry(ctx, x.shape(), w.shape(), false);
  Tensor acc = conv_reference_f64(ctx, xc, wc, g);
  const double xs = scalar_as_double(ctx, ctx.input(1)), ys = scalar_as_double(ctx, ctx.input(6));
  const Tensor ws = convert_tensor(ctx, ctx.input(4), ElementType::f64);
  const Tensor* bias = ctx.optional_input(8);
  const Tensor bd = bias ? convert_tensor(ctx, *bias, ElementType::f64) : Tensor();
  const int64_t M = acc.shape()[1];
  const int64_t planes = acc.shape()[0] * M;
  const int64_t inner = planes > 0 ? acc.element_count() / planes : 0;
  for (int64_t i = 0; i < acc.element_count(); ++i) {
    const int64_t m = (i / inner) % M;
    const double s = ws.element_count() > 1 ? ws.data_as<double>()[m] : ws.data_as<double>()[0];
    double v = acc.data_as<double>()[i] + (bias ? bd.data_as<double>()[m] : 0.0);
    acc.data_as<double>()[i] = v * xs * s / ys;
  }
  const Tensor* yzp = ctx.optional_input(7);
  const double z = yzp ? scalar_as_double(ctx, *yzp) : 0;
  ctx.set_output(0,
                 quantize(ctx, acc, {1.0}, {z}, 0, yzp ? yzp->element_type() : x.element_type()));
}

// QuantizeDequantize (domain sinter.cpu, made by fuse_quantize_dequantize_pairs):
// DequantizeLinear(QuantizeLinear(x, s, z), s, z) in one vectorised pass; attributes scale and
// zero_point (of uint8 codes: an int8 zero point plus 128).
void op_quantize_dequantize(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.element_type() == ElementType::f32, "expects an f32 input, got {}",
            to_string(x.element_type()));
  DynamicQuantParams p;
  p.scale = ctx.attr_f("scale", 0.f);
  p.zero_point = static_cast<int>(ctx.attr_i("zero_point", 0));
  ctx.check(p.scale > 0 && std::isfinite(p.scale) && p.zero_point >= 0 && p.zero_point <= 255,
            "needs a positive scale and a zero point in [0, 255], got {} and {}", p.scale,
            p.zero_point);
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  quantize_dequantize(x.data_as<float>(), x.element_count(), p, out.data_as<float>());
  ctx.set_output(0, out);
}

}  // namespace

void register_quant_ops(KernelRegistry& r) {
  r.add("QuantizeDequantize", op_quantize_dequantize, kCpuDomain);
  r.add("QuantizeLinear", op_quantize_linear);
  r.add("DequantizeLinear", op_dequantize_linear);
  r.add("DynamicQuantizeLinear", op_dynamic_quantize_linear);
  r.add("MatMulInteger", op_matmul_integer);
  r.add("QLinearMatMul", op_qlinear_matmul);
  r.add("ConvInteger", op_conv_integer);
  r.add("QLinearConv", op_qlinear_conv);
}

}  // namespace sinter::cpu
