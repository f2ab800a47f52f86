// Elementwise math, comparison, logic and bit operators (ONNX opsets 1-17).
#include <cmath>

#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/elementwise.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "devices/cpu/ops/parallel_for.hpp"

namespace sinter::cpu {

namespace {

template <typename F>
void float_unary(OpContext& ctx, F f) {
  const Tensor& x = ctx.input(0);
  dispatch_float(x.element_type(), ctx,
                 [&]<typename T>() { ctx.set_output(0, map_unary<T>(x, f)); });
}

template <typename F>
void signed_unary(OpContext& ctx, F f) {
  const Tensor& x = ctx.input(0);
  dispatch_signed(x.element_type(), ctx,
                  [&]<typename T>() { ctx.set_output(0, map_unary<T>(x, f)); });
}

template <typename F>
void numeric_unary(OpContext& ctx, F f) {
  const Tensor& x = ctx.input(0);
  dispatch_numeric(x.element_type(), ctx,
                   [&]<typename T>() { ctx.set_output(0, map_unary<T>(x, f)); });
}

#define FLOAT_UNARY(NAME, EXPR)                    \
  void NAME(OpContext& ctx) {                      \
    float_unary(ctx, [](auto x) { return EXPR; }); \
  }

FLOAT_UNARY(op_sqrt, std::sqrt(x))
FLOAT_UNARY(op_exp, std::exp(x))
FLOAT_UNARY(op_log, std::log(x))
FLOAT_UNARY(op_sin, std::sin(x))
FLOAT_UNARY(op_cos, std::cos(x))
FLOAT_UNARY(op_tan, std::tan(x))
FLOAT_UNARY(op_asin, std::asin(x))
FLOAT_UNARY(op_acos, std::acos(x))
FLOAT_UNARY(op_atan, std::atan(x))
FLOAT_UNARY(op_sinh, std::sinh(x))
FLOAT_UNARY(op_cosh, std::cosh(x))
FLOAT_UNARY(op_asinh, std::asinh(x))
FLOAT_UNARY(op_acosh, std::acosh(x))
FLOAT_UNARY(op_atanh, std::atanh(x))
FLOAT_UNARY(op_erf, std::erf(x))
FLOAT_UNARY(op_ceil, std::ceil(x))
FLOAT_UNARY(op_floor, std::floor(x))
FLOAT_UNARY(op_round, std::nearbyint(x))  // default rounding mode: half to even, as ONNX says
FLOAT_UNARY(op_reciprocal, decltype(x)(1) / x)
FLOAT_UNARY(op_sigmoid_cpp,
            x >= 0 ? decltype(x)(1) / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)))
FLOAT_UNARY(op_tanh_cpp, std::tanh(x))

void op_sigmoid(OpContext& ctx) {
  if (!unary_fast_path(ctx, "sigmoid")) op_sigmoid_cpp(ctx);
}
void op_tanh(OpContext& ctx) {
  if (!unary_fast_path(ctx, "tanh")) op_tanh_cpp(ctx);
}
FLOAT_UNARY(op_softsign, x / (1 + std::fabs(x)))
FLOAT_UNARY(op_softplus, x > 20 ? x : std::log1p(std::exp(x)))
#undef FLOAT_UNARY

void op_abs(OpContext& ctx) {
  numeric_unary(ctx, [](auto x) {
    if constexpr (std::is_unsigned_v<decltype(x)>)
      return x;
    else
      return x < 0 ? -x : x;
  });
}
void op_neg(OpContext& ctx) {
  signed_unary(ctx, [](auto x) { return -x; });
}
void op_relu(OpContext& ctx) {
  if (unary_fast_path(ctx, "relu")) return;
  signed_unary(ctx, [](auto x) { return x > 0 ? x : decltype(x)(0); });
}
void op_sign(OpContext& ctx) {
  numeric_unary(ctx, [](auto x) { return decltype(x)((x > 0) - (x < 0)); });
}

void op_isnan(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    Tensor out(ElementType::boolean, x.shape());
    for (int64_t i = 0; i < x.element_count(); ++i) {
      out.data_as<bool>()[i] = std::isnan(static_cast<compute_t<T>>(x.data_as<T>()[i]));
    }
    ctx.set_output(0, out);
  });
}

void op_isinf(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const bool neg = ctx.attr_i("detect_negative", 1) != 0;
  const bool pos = ctx.attr_i("detect_positive", 1) != 0;
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    Tensor out(ElementType::boolean, x.shape());
    for (int64_t i = 0; i < x.element_count(); ++i) {
      const auto v = static_cast<compute_t<T>>(x.data_as<T>()[i]);
      out.data_as<bool>()[i] = std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg));
    }
    ctx.set_output(0, out);
  });
}

void op_not(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.element_type() == ElementType::boolean, "Not needs a bool input");
  ctx.set_output(0, map_unary<bool>(x, [](bool v) { return !v; }));
}

void op_bitwise_not(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  dispatch_integer(x.element_type(), ctx, [&]<typename T>() {
    ctx.set_output(0, map_unary<T>(x, [](T v) { return static_cast<T>(~v); }));
  });
}

// ---- binary

template <typename F>
void same_type_binary(OpContext& ctx, F f) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  ctx.check(a.element_type() == b.element_type(), "inputs have different element types {} and {}",
            to_string(a.element_type()), to_string(b.element_type()));
  dispatch_numeric(a.element_type(), ctx,
                   [&]<typename T>() { ctx.set_output(0, map_binary<T, T, T>(ctx, a, b, f)); });
}

void op_add(OpContext& ctx) {
  if (binary_fast_path(ctx, "Add")) return;
  same_type_binary(ctx, [](auto x, auto y) { return x + y; });
}
void op_sub(OpContext& ctx) {
  if (binary_fast_path(ctx, "Sub")) return;
  same_type_binary(ctx, [](auto x, auto y) { return x - y; });
}
void op_mul(OpContext& ctx) {
  if (binary_fast_path(ctx, "Mul")) return;
  same_type_binary(ctx, [](auto x, auto y) { return x * y; });
}
void op_div(OpContext& ctx) {
  if (binary_fast_path(ctx, "Div")) return;
  same_type_binary(ctx, [](auto x, auto y) {
    using T = decltype(x);
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      // The most negative value divided by -1 traps on x86; it wraps to itself instead.
      using U = std::make_unsigned_t<T>;
      if (y == -1) return static_cast<T>(U(0) - static_cast<U>(x));
      return y == 0 ? T(0) : T(x / y);
    } else if constexpr (std::is_integral_v<T>) {
      return y == 0 ? T(0) : T(x / y);
    } else
      return x / y;
  });
}

void op_mod(OpContext& ctx) {
  const bool fmod = ctx.attr_i("fmod", 0) != 0;
  const Tensor& a = ctx.input(0);
  if (is_floating_type(a.element_type()) && !fmod) {
    ctx.fail(ErrorCategory::invalid_model, "Mod on floating-point inputs requires fmod=1");
  }
  same_type_binary(ctx, [fmod](auto x, auto y) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) {
      return std::fmod(x, y);
    } else {
      if (y == 0) return T(0);
      if constexpr (std::is_signed_v<T>)
        if (y == -1) return T(0);  // x % -1 is 0, and traps on x86 for the most negative x
      T r = static_cast<T>(x % y);
      if constexpr (std::is_signed_v<T>) {
        // Python-style: the result takes the sign of the divisor.
        if (!fmod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
      }
      return r;
    }
  });
}

// Pow(x, 2) on f32 (the variance in hand-written normalisations) as x * x: exact, and without
// a double-precision pow call per element.
bool square_fast_path(OpContext& ctx, const Tensor& a, const Tensor& b) {
  if (a.element_type() != ElementType::f32 || b.element_count() != 1 || b.rank() > a.rank())
    return false;
  double exponent = 0;
  dispatch_numeric(b.element_type(), ctx,
                   [&]<typename T>() { exponent = static_cast<double>(b.data_as<T>()[0]); });
  if (exponent != 2.0) return false;
  Tensor out = Tensor::uninitialized(ElementType::f32, a.shape());
  const float* x = a.data_as<float>();
  float* y = out.data_as<float>();
  const int64_t n = a.element_count();
  parallel_for(n, n > (1 << 16), [&](int64_t i) { y[i] = x[i] * x[i]; });
  ctx.set_output(0, out);
  return true;
}

void op_pow(OpContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (square_fast_path(ctx, a, b)) return;
  dispatch_numeric(a.element_type(), ctx, [&]<typename TA>() {
    dispatch_numeric(b.element_type(), ctx, [&]<typename TB>() {
      ctx.set_output(0, map_binary<TA, TB, TA>(ctx, a, b, [](auto x, auto y) {
                       return static_cast<compute_t<TA>>(
                           std::pow(static_cast<double>(x), static_cast<double>(y)));
                     }));
    });
  });
}

template <typename F>
void compare_binary(OpContext& ctx, F f) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  ctx.check(a.element_type() == b.element_type(), "inputs have different element types {} and {}",
            to_string(a.element_type()), to_string(b.element_type()));
  dispatch_all(a.element_type(), ctx,
               [&]<typename T>() { ctx.set_output(0, map_binary<T, T, bool>(ctx, a, b, f)); });
}

void op_equal(OpContext& ctx) {
  if (ctx.input(0).element_type() == ElementType::string) {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    ctx.set_output(
        0, map_binary<std::string, std::string, bool>(
               ctx, a, b, [](const std::string& x, const std::string& y) { return x == y; }));
    return;
  }
  compare_binary(ctx, [](auto x, auto y) { return x == y; });
}
void op_less(OpContext& ctx) {
  compare_binary(ctx, [](auto x, auto y) { return x < y; });
}
void op_less_equal(OpContext& ctx) {
  compare_binary(ctx, [](auto x, auto y) { return x <= y; });
}
void op_greater(OpContext& ctx) {
  compare_binary(ctx, [](auto x, auto y) { return x > y; });
}
void op_greater_equal(OpContext& ctx) {
  compare_binary(ctx, [](auto x, auto y) { return x >= y; });
}

template <typename F>
void bool_binary(OpContext& ctx, F f) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  ctx.check(a.element_type() == ElementType::boolean && b.element_type() == ElementType::boolean,
            "inputs must be bool");
  ctx.set_output(0, map_binary<bool, bool, bool>(ctx, a, b, f));
}
void op_and(OpContext& ctx) {
  bool_binary(ctx, [](bool x, bool y) { return x && y; });
}
void op_or(OpContext& ctx) {
  bool_binary(ctx, [](bool x, bool y) { return x || y; });
}
void op_xor(OpContext& ctx) {
  bool_binary(ctx, [](bool x, bool y) { return x != y; });
}

template <typename F>
void integer_binary(OpContext& ctx, F f) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  ctx.check(a.element_type() == b.element_type(), "inputs have different element types");
  dispatch_integer(a.element_type(), ctx, [&]<typename T>() {
    ctx.set_output(
        0, map_binary<T, T, T>(ctx, a, b, [&](T x, T y) { return static_cast<T>(f(x, y)); }));
  });
}
void op_bitwise_and(OpContext& ctx) {
  integer_binary(ctx, [](auto x, auto y) { return x & y; });
}
void op_bitwise_or(OpContext& ctx) {
  integer_binary(ctx, [](auto x, auto y) { return x | y; });
}
void op_bitwise_xor(OpContext& ctx) {
  integer_binary(ctx, [](auto x, auto y) { return x ^ y; });
}
void op_bitshift(OpContext& ctx) {
  const std::string dir = ctx.attr_s("direction", "");
  ctx.check(dir == "LEFT" || dir == "RIGHT", "direction must be LEFT or RIGHT, got '{}'", dir);
  const bool left = dir == "LEFT";
  integer_binary(ctx, [left](auto x, auto y) {
    using T = decltype(x);
    if (y >= static_cast<T>(sizeof(T) * 8)) return T(0);
    return left ? static_cast<T>(x << y) : static_cast<T>(x >> y);
  });
}

void op_prelu(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& slope = ctx.input(1);
  dispatch_signed(x.element_type(), ctx, [&]<typename T>() {
    Tensor s = slope;
    // Opset < 7 used a per-channel slope of shape [C]: align it with axis 1.
    if (slope.rank() == 1 && x.rank() > 2 && slope.shape()[0] == x.shape()[1] &&
        slope.shape()[0] != x.shape().back()) {
      Shape sh(static_cast<std::size_t>(x.rank() - 1), 1);
      sh[0] = slope.shape()[0];
      s = slope.reshaped(sh);
    }
    ctx.set_output(
        0, map_binary<T, T, T>(ctx, x, s, [](auto v, auto a) { return v < 0 ? v * a : v; }));
  });
}

void op_where(OpContext& ctx) {
  const Tensor& c = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  ctx.check(c.element_type() == ElementType::boolean, "condition must be bool");
  const Shape shape = broadcast_shapes(ctx, broadcast_shapes(ctx, c.shape(), x.shape()), y.shape());
  dispatch_any(x.element_type(), ctx, [&]<typename T>() {
    Tensor out(x.element_type(), shape);
    const auto sc = broadcast_strides(c.shape(), shape), sx = broadcast_strides(x.shape(), shape),
               sy = broadcast_strides(y.shape(), shape);
    const auto so = strides_of(shape);
    const bool* pc = c.data_as<bool>();
    const T* px = x.data_as<T>();
    const T* py = y.data_as<T>();
    T* po = out.data_as<T>();
    const int64_t n = out.element_count();
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, oc = 0, ox = 0, oy = 0;
      for (std::size_t d = 0; d < shape.size(); ++d) {
        const int64_t k = rem / so[d];
        rem %= so[d];
        oc += k * sc[d];
        ox += k * sx[d];
        oy += k * sy[d];
      }
      po[i] = pc[oc] ? px[ox] : py[oy];
    }
    ctx.set_output(0, out);
  });
}

// Max, Min, Sum, Mean: variadic with broadcasting.
template <typename F>
void variadic(OpContext& ctx, F f, bool mean) {
  Tensor acc = ctx.input(0);
  for (std::size_t i = 1; i < ctx.input_count(); ++i) {
    const Tensor& next = ctx.input(i);
    dispatch_numeric(acc.element_type(), ctx,
                     [&]<typename T>() { acc = map_binary<T, T, T>(ctx, acc, next, f); });
  }
  if (mean) {
    const double n = static_cast<double>(ctx.input_count());
    dispatch_float(acc.element_type(), ctx, [&]<typename T>() {
      acc = map_unary<T>(acc, [n](auto v) { return static_cast<decltype(v)>(v / n); });
    });
  } else if (ctx.input_count() == 1) {
    acc = acc.clone();
  }
  ctx.set_output(0, acc);
}
void op_max(OpContext& ctx) {
  variadic(
      ctx, [](auto x, auto y) { return (std::isnan(static_cast<double>(x)) || x > y) ? x : y; },
      false);
}
void op_min(OpContext& ctx) {
  variadic(
      ctx, [](auto x, auto y) { return (std::isnan(static_cast<double>(x)) || x < y) ? x : y; },
      false);
}
void op_sum(OpContext& ctx) {
  variadic(
      ctx, [](auto x, auto y) { return x + y; }, false);
}
void op_mean(OpContext& ctx) {
  variadic(
      ctx, [](auto x, auto y) { return x + y; }, true);
}

void op_clip(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    using C = compute_t<T>;
    C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
    if (ctx.opset() < 11) {
      lo = static_cast<C>(ctx.attr_f("min", -std::numeric_limits<float>::max()));
      hi = static_cast<C>(ctx.attr_f("max", std::numeric_limits<float>::max()));
    } else {
      if (const Tensor* t = ctx.optional_input(1)) lo = static_cast<C>(t->data_as<T>()[0]);
      if (const Tensor* t = ctx.optional_input(2)) hi = static_cast<C>(t->data_as<T>()[0]);
    }
    ctx.set_output(0, map_unary<T>(x, [lo, hi](C v) { return v < lo ? lo : (v > hi ? hi : v); }));
  });
}

}  // namespace

void register_elementwise_ops(KernelRegistry& r) {
  r.add("Sqrt", op_sqrt);
  r.add("Exp", op_exp);
  r.add("Log", op_log);
  r.add("Sin", op_sin);
  r.add("Cos", op_cos);
  r.add("Tan", op_tan);
  r.add("Asin", op_asin);
  r.add("Acos", op_acos);
  r.add("Atan", op_atan);
  r.add("Sinh", op_sinh);
  r.add("Cosh", op_cosh);
  r.add("Asinh", op_asinh);
  r.add("Acosh", op_acosh);
  r.add("Atanh", op_atanh);
  r.add("Erf", op_erf);
  r.add("Ceil", op_ceil);
  r.add("Floor", op_floor);
  r.add("Round", op_round);
  r.add("Reciprocal", op_reciprocal);
  r.add("Sigmoid", op_sigmoid);
  r.add("Tanh", op_tanh);
  r.add("Softsign", op_softsign);
  r.add("Softplus", op_softplus);
  r.add("Abs", op_abs);
  r.add("Neg", op_neg);
  r.add("Relu", op_relu);
  r.add("Sign", op_sign);
  r.add("IsNaN", op_isnan);
  r.add("IsInf", op_isinf);
  r.add("Not", op_not);
  r.add("BitwiseNot", op_bitwise_not);
  r.add("Add", op_add);
  r.add("Sub", op_sub);
  r.add("Mul", op_mul);
  r.add("Div", op_div);
  r.add("Mod", op_mod);
  r.add("Pow", op_pow);
  r.add("Equal", op_equal);
  r.add("Less", op_less);
  r.add("LessOrEqual", op_less_equal);
  r.add("Greater", op_greater);
  r.add("GreaterOrEqual", op_greater_equal);
  r.add("And", op_and);
  r.add("Or", op_or);
  r.add("Xor", op_xor);
  r.add("BitwiseAnd", op_bitwise_and);
  r.add("BitwiseOr", op_bitwise_or);
  r.add("BitwiseXor", op_bitwise_xor);
  r.add("BitShift", op_bitshift);
  r.add("PRelu", op_prelu);
  r.add("Where", op_where);
  r.add("Max", op_max);
  r.add("Min", op_min);
  r.add("Sum", op_sum);
  r.add("Mean", op_mean);
  r.add("Clip", op_clip);
}

}  // namespace sinter::cpu
