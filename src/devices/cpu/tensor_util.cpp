#include "devices/cpu/tensor_util.hpp"

#include <cmath>
#include <cstring>

#include "devices/cpu/dispatch.hpp"

namespace sinter::cpu {

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

Shape broadcast_shapes(const OpContext& ctx, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      ctx.fail(ErrorCategory::invalid_argument, "shapes {} and {} do not broadcast", to_string(a),
               to_string(b));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  const auto own = strides_of(shape);
  const std::size_t off = out.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i) s[off + i] = shape[i] == 1 ? 0 : own[i];
  return s;
}

int64_t normalize_axis(const OpContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    ctx.fail(ErrorCategory::invalid_argument, "axis {} is out of range for rank {}", axis, rank);
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> to_int64_vector(const OpContext& ctx, const Tensor& t) {
  std::vector<int64_t> v(static_cast<std::size_t>(t.element_count()));
  switch (t.element_type()) {
    case ElementType::i64:
      std::memcpy(v.data(), t.data(), v.size() * 8);
      break;
    case ElementType::i32:
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = t.data_as<int32_t>()[i];
      break;
    default:
      ctx.fail(ErrorCategory::invalid_argument, "expected an int32/int64 tensor, got {}",
               to_string(t.element_type()));
  }
  return v;
}

double scalar_as_double(const OpContext& ctx, const Tensor& t) {
  ctx.check(t.element_count() >= 1, "expected a scalar, got shape {}", to_string(t.shape()));
  return dispatch_all(t.element_type(), ctx,
                      [&]<typename T>() { return static_cast<double>(t.data_as<T>()[0]); });
}

namespace {
template <typename From, typename To>
To convert_value(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return static_cast<compute_t<From>>(v) != 0;
  } else if constexpr (is_floating_v<From> && !is_floating_v<To>) {
    // Float -> integer: truncate toward zero; NaN/out of range is undefined in ONNX, keep it
    // defined here (0 / saturate) so no UB leaks into results.
    const double d = static_cast<double>(static_cast<compute_t<From>>(v));
    if (std::isnan(d)) return To(0);
    if (d <= static_cast<double>(std::numeric_limits<To>::lowest()))
      return std::numeric_limits<To>::lowest();
    if (d >= static_cast<double>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    return static_cast<To>(static_cast<compute_t<To>>(static_cast<compute_t<From>>(v)));
  }
}
}  // namespace

std::vector<double> to_double_vector(const OpContext& ctx, const Tensor& t) {
  const Tensor d = convert_tensor(ctx, t, ElementType::f64);
  return std::vector<double>(d.data_as<double>(), d.data_as<double>() + d.element_count());
}

Tensor tensor_from_doubles(const OpContext& ctx, const std::vector<double>& values, Shape shape,
                           ElementType type) {
  Tensor t(ElementType::f64, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<double>());
  return convert_tensor(ctx, t, type);
}

bool is_half_float(const Tensor& t) {
  return t.element_type() == ElementType::f16 || t.element_type() == ElementType::bf16;
}

void run_widened(OpContext& ctx, Kernel kernel) {
  std::vector<Value> widened(ctx.input_count());
  std::vector<const Value*> inputs(ctx.input_count(), nullptr);
  ElementType narrow = ElementType::undefined;
  for (std::size_t i = 0; i < ctx.input_count(); ++i) {
    if (!ctx.has_input(i)) continue;
    const Value& v = ctx.input_value(i);
    if (v.is_tensor() && is_half_float(v.tensor())) {
      narrow = v.tensor().element_type();
      widened[i] = Value(convert_tensor(ctx, v.tensor(), ElementType::f32));
      inputs[i] = &widened[i];
    } else {
      inputs[i] = &v;
    }
  }
  OpContext wide = ctx.with_inputs(std::move(inputs));
  kernel(wide);
  for (std::size_t i = 0; i < ctx.output_count(); ++i) {
    Value& v = wide.outputs()[i];
    if (v.is_tensor() && v.tensor().element_type() == ElementType::f32 &&
        narrow != ElementType::undefined) {
      ctx.set_output(i, Value(convert_tensor(ctx, v.tensor(), narrow)));
    } else {
      ctx.set_output(i, std::move(v));
    }
  }
}

Tensor convert_tensor(const OpContext& ctx, const Tensor& t, ElementType to) {
  if (t.element_type() == to) return t;
  Tensor out = Tensor::uninitialized(to, t.shape());  // written whole
  const int64_t n = t.element_count();
  dispatch_all(t.element_type(), ctx, [&]<typename From>() {
    dispatch_all(to, ctx, [&]<typename To>() {
      const From* src = t.data_as<From>();
      To* dst = out.data_as<To>();
      for (int64_t i = 0; i < n; ++i) dst[i] = convert_value<From, To>(src[i]);
    });
  });
  return out;
}

Tensor make_i64_tensor(const std::vector<int64_t>& values, Shape shape) {
  if (shape.empty() && values.size() != 1) shape = {static_cast<int64_t>(values.size())};
  Tensor t(ElementType::i64, shape);
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * 8);
  return t;
}

Tensor transpose_tensor(const OpContext& ctx, const Tensor& t, const std::vector<int64_t>& perm) {
  const Shape& in = t.shape();
  const std::size_t rank = in.size();
  ctx.check(perm.size() == rank, "perm has {} entries for a rank-{} input", perm.size(), rank);
  Shape out_shape(rank);
  std::vector<int64_t> in_strides = strides_of(in), src_strides(rank);
  std::vector<bool> seen(rank, false);
  for (std::size_t i = 0; i < rank; ++i) {
    ctx.check(perm[i] >= 0 && perm[i] < static_cast<int64_t>(rank) && !seen[perm[i]],
              "perm is not a permutation of 0..{}", rank - 1);
    seen[perm[i]] = true;
    out_shape[i] = in[perm[i]];
    src_strides[i] = in_strides[perm[i]];
  }
  Tensor out = Tensor::uninitialized(t.element_type(), out_shape);  // written whole
  dispatch_any(t.element_type(), ctx, [&]<typename T>() {
    const T* src = t.data_as<T>();
    T* dst = out.data_as<T>();
    std::vector<int64_t> zero(rank, 0);
    for_each_index2(out_shape, src_strides, zero,
                    [&](int64_t i, int64_t s, int64_t) { dst[i] = src[s]; });
  });
  return out;
}

}  // namespace sinter::cpu

namespace sinter::cpu {

void copy_elements(Tensor& dst, int64_t dst_offset, const Tensor& src, int64_t src_offset,
                   int64_t count) {
  if (count <= 0) return;
  if (src.element_type() == ElementType::string) {
    std::string* d = dst.data_as<std::string>() + dst_offset;
    const std::string* s = src.data_as<std::string>() + src_offset;
    for (int64_t i = 0; i < count; ++i) d[i] = s[i];
    return;
  }
  const std::size_t es = element_size(src.element_type());
  std::memcpy(static_cast<char*>(dst.data()) + dst_offset * es,
              static_cast<const char*>(src.data()) + src_offset * es, count * es);
}

}  // namespace sinter::cpu
