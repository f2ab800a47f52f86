// Operators that create tensors or change their shape without arithmetic.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

void op_constant(OpContext& ctx) {
  const ir::Node& n = ctx.node();
  if (const auto* a = n.find("value")) {
    ctx.set_output(0, a->t);
  } else if (const auto* a = n.find("value_float")) {
    Tensor t(ElementType::f32, {});
    t.data_as<float>()[0] = a->f;
    ctx.set_output(0, t);
  } else if (const auto* a = n.find("value_floats")) {
    Tensor t(ElementType::f32, {static_cast<int64_t>(a->floats.size())});
    std::copy(a->floats.begin(), a->floats.end(), t.data_as<float>());
    ctx.set_output(0, t);
  } else if (const auto* a = n.find("value_int")) {
    ctx.set_output(0, make_i64_tensor({a->i}, {}));
  } else if (const auto* a = n.find("value_ints")) {
    ctx.set_output(0, make_i64_tensor(a->ints, {static_cast<int64_t>(a->ints.size())}));
  } else if (const auto* a = n.find("value_string")) {
    Tensor t(ElementType::string, {});
    t.data_as<std::string>()[0] = a->s;
    ctx.set_output(0, t);
  } else if (const auto* a = n.find("value_strings")) {
    Tensor t(ElementType::string, {static_cast<int64_t>(a->strings.size())});
    std::copy(a->strings.begin(), a->strings.end(), t.data_as<std::string>());
    ctx.set_output(0, t);
  } else {
    ctx.fail(ErrorCategory::unsupported_op,
             "Constant needs a value attribute (sparse_value is "
             "not supported)");
  }
}

void op_identity(OpContext& ctx) {
  ctx.set_output(0, ctx.input_value(0));
}

void op_shape(OpContext& ctx) {
  const Shape& s = ctx.input(0).shape();
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t start = ctx.attr_i("start", 0), end = ctx.attr_i("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(s[i]);
  ctx.set_output(0, make_i64_tensor(dims, {static_cast<int64_t>(dims.size())}));
}

void op_size(OpContext& ctx) {
  ctx.set_output(0, make_i64_tensor({ctx.input(0).element_count()}, {}));
}

void op_reshape(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> target =
      ctx.opset() < 5 ? ctx.attr_ints("shape") : to_int64_vector(ctx, ctx.input(1));
  const bool allow_zero = ctx.attr_i("allowzero", 0) != 0;
  int64_t known = 1, infer_at = -1;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allow_zero) {
      ctx.check(i < x.shape().size(), "shape entry 0 at {} copies a dimension the input {} lacks",
                i, to_string(x.shape()));
      target[i] = x.shape()[i];
    }
    if (target[i] == -1) {
      ctx.check(infer_at < 0, "shape {} has more than one -1", to_string(target));
      infer_at = static_cast<int64_t>(i);
    } else {
      ctx.check(target[i] >= 0, "shape {} has a negative entry", to_string(target));
      known *= target[i];
    }
  }
  if (infer_at >= 0) {
    ctx.check(known != 0 && x.element_count() % known == 0,
              "cannot reshape {} to {}: sizes do not divide", to_string(x.shape()),
              to_string(target));
    target[infer_at] = x.element_count() / known;
  }
  ctx.check(element_count(target) == x.element_count(), "cannot reshape {} ({} elements) to {}",
            to_string(x.shape()), x.element_count(), to_string(target));
  ctx.set_output(0, x.reshaped(target));
}

void op_flatten(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  int64_t axis = ctx.attr_i("axis", 1);
  if (axis < 0) axis += x.rank();
  ctx.check(axis >= 0 && axis <= x.rank(), "axis {} is out of range for rank {}", axis, x.rank());
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[i];
  const int64_t inner = outer == 0 ? 0 : x.element_count() / outer;
  Shape s = {outer, inner};
  if (outer == 0) {
    int64_t in = 1;
    for (int64_t i = axis; i < x.rank(); ++i) in *= x.shape()[i];
    s[1] = in;
  }
  ctx.set_output(0, x.reshaped(s));
}

std::vector<int64_t> axes_from(OpContext& ctx, std::size_t input_index) {
  if (ctx.opset() >= 13) {
    if (const Tensor* t = ctx.optional_input(input_index)) return to_int64_vector(ctx, *t);
    return {};
  }
  return ctx.attr_ints("axes");
}

void op_squeeze(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes = axes_from(ctx, 1);
  std::vector<bool> drop(x.shape().size(), false);
  if (axes.empty()) {
    for (std::size_t i = 0; i < x.shape().size(); ++i) drop[i] = x.shape()[i] == 1;
  }
  for (int64_t a : axes) {
    a = normalize_axis(ctx, a, x.rank());
    ctx.check(x.shape()[a] == 1, "cannot squeeze axis {} of size {}", a, x.shape()[a]);
    drop[a] = true;
  }
  Shape s;
  for (std::size_t i = 0; i < x.shape().size(); ++i) {
    if (!drop[i]) s.push_back(x.shape()[i]);
  }
  ctx.set_output(0, x.reshaped(s));
}

void op_unsqueeze(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes = axes_from(ctx, 1);
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : axes) {
    a = normalize_axis(ctx, a, out_rank);
    ctx.check(!inserted[a], "axis {} is repeated", a);
    inserted[a] = true;
  }
  Shape s;
  std::size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) s.push_back(inserted[i] ? 1 : x.shape()[k++]);
  ctx.set_output(0, x.reshaped(s));
}

void op_concat(OpContext& ctx) {
  const Tensor& first = ctx.input(0);
  const int64_t rank = first.rank();
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 1), rank);
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (std::size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor& t = ctx.input(i);
    ctx.check(t.rank() == rank && t.element_type() == first.element_type(),
              "input #{} is {}{}, input #0 is {}{}", i, to_string(t.element_type()),
              to_string(t.shape()), to_string(first.element_type()), to_string(first.shape()));
    for (int64_t d = 0; d < rank; ++d) {
      ctx.check(d == axis || t.shape()[d] == first.shape()[d],
                "input #{} has shape {}, which does not match {} outside axis {}", i,
                to_string(t.shape()), to_string(first.shape()), axis);
    }
    out_shape[axis] += t.shape()[axis];
  }
  Tensor out = Tensor::uninitialized(first.element_type(), out_shape);  // written whole
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out_shape[d];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= out_shape[d];
  const int64_t out_row = out_shape[axis] * inner;
  int64_t offset = 0;
  for (std::size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor& t = ctx.input(i);
    const int64_t row = t.shape()[axis] * inner;
    for (int64_t o = 0; o < outer; ++o) copy_elements(out, o * out_row + offset, t, o * row, row);
    offset += row;
  }
  ctx.set_output(0, out);
}

void op_split(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  std::vector<int64_t> sizes;
  if (ctx.opset() >= 13) {
    if (const Tensor* t = ctx.optional_input(1)) sizes = to_int64_vector(ctx, *t);
  } else {
    sizes = ctx.attr_ints("split");
  }
  const int64_t n_out = static_cast<int64_t>(ctx.output_count());
  const int64_t dim = x.shape()[axis];
  if (sizes.empty()) {
    const int64_t chunk = (dim + n_out - 1) / n_out;
    for (int64_t i = 0; i < n_out; ++i)
      sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  }
  ctx.check(static_cast<int64_t>(sizes.size()) == n_out, "split has {} sizes for {} outputs",
            sizes.size(), n_out);
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  ctx.check(total == dim, "split sizes add up to {}, axis {} has {}", total, axis, dim);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  int64_t start = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    Shape s = x.shape();
    s[axis] = sizes[i];
    Tensor out(x.element_type(), s);
    for (int64_t o = 0; o < outer; ++o) {
      copy_elements(out, o * sizes[i] * inner, x, (o * dim + start) * inner, sizes[i] * inner);
    }
    start += sizes[i];
    ctx.set_output(i, out);
  }
}

void op_slice(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    axes = ctx.attr_ints("axes");
  } else {
    starts = to_int64_vector(ctx, ctx.input(1));
    ends = to_int64_vector(ctx, ctx.input(2));
    if (const Tensor* t = ctx.optional_input(3)) axes = to_int64_vector(ctx, *t);
    if (const Tensor* t = ctx.optional_input(4)) steps = to_int64_vector(ctx, *t);
  }
  ctx.check(starts.size() == ends.size(), "starts and ends differ in length");
  if (axes.empty()) {
    for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  ctx.check(axes.size() == starts.size() && steps.size() == starts.size(),
            "starts, ends, axes and steps must have the same length");
  std::vector<int64_t> first(rank, 0), step(rank, 1), count(x.shape());
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = normalize_axis(ctx, axes[i], rank);
    const int64_t dim = x.shape()[a];
    const int64_t st = steps[i];
    ctx.check(st != 0, "step must not be 0");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      count[a] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      count[a] = s > e ? (s - e + (-st) - 1) / (-st) : 0;
    }
    first[a] = s;
    step[a] = st;
  }
  Tensor out(x.element_type(), count);
  const auto in_strides = strides_of(x.shape());
  std::vector<int64_t> src_strides(rank);
  int64_t base = 0;
  for (int64_t d = 0; d < rank; ++d) {
    src_strides[d] = in_strides[d] * step[d];
    base += first[d] * in_strides[d];
  }
  dispatch_any(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>() + base;
    T* dst = out.data_as<T>();
    std::vector<int64_t> zero(rank, 0);
    for_each_index2(count, src_strides, zero,
                    [&](int64_t i, int64_t s, int64_t) { dst[i] = src[s]; });
  });
  ctx.set_output(0, out);
}

void op_transpose(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> perm = ctx.attr_ints("perm");
  if (perm.empty()) {
    for (int64_t i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
  }
  if (transpose_fast_path(ctx, perm)) return;
  ctx.set_output(0, transpose_tensor(ctx, x, perm));
}

void op_cast(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto to = static_cast<ElementType>(ctx.attr_i("to", 0));
  if (to == ElementType::string || x.element_type() == ElementType::string) {
    ctx.fail(ErrorCategory::unsupported_op, "casts from or to string are not supported");
  }
  ctx.set_output(0, convert_tensor(ctx, x, to));
}

void op_cast_like(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const ElementType to = ctx.input(1).element_type();
  if (to == ElementType::string || x.element_type() == ElementType::string) {
    ctx.fail(ErrorCategory::unsupported_op, "casts from or to string are not supported");
  }
  ctx.set_output(0, convert_tensor(ctx, x, to));
}

// Materialises `x` broadcast to `shape`.
Tensor broadcast_to(const OpContext& ctx, const Tensor& x, const Shape& shape) {
  Tensor out(x.element_type(), shape);
  const auto src_strides = broadcast_strides(x.shape(), shape);
  dispatch_any(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
    std::vector<int64_t> zero(shape.size(), 0);
    for_each_index2(shape, src_strides, zero,
                    [&](int64_t i, int64_t s, int64_t) { dst[i] = src[s]; });
  });
  return out;
}

void op_expand(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Shape target = to_int64_vector(ctx, ctx.input(1));
  ctx.set_output(0, broadcast_to(ctx, x, broadcast_shapes(ctx, x.shape(), target)));
}

void op_tile(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto repeats = to_int64_vector(ctx, ctx.input(1));
  ctx.check(static_cast<int64_t>(repeats.size()) == x.rank(), "repeats has {} entries for rank {}",
            repeats.size(), x.rank());
  Shape out_shape(x.shape());
  for (std::size_t i = 0; i < repeats.size(); ++i) out_shape[i] *= repeats[i];
  Tensor out(x.element_type(), out_shape);
  const auto in_strides = strides_of(x.shape());
  const auto out_strides = strides_of(out_shape);
  dispatch_any(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
    for (int64_t i = 0; i < out.element_count(); ++i) {
      int64_t rem = i, s = 0;
      for (std::size_t d = 0; d < out_shape.size(); ++d) {
        const int64_t k = rem / out_strides[d];
        rem %= out_strides[d];
        s += (k % x.shape()[d]) * in_strides[d];
      }
      dst[i] = src[s];
    }
  });
  ctx.set_output(0, out);
}

void op_constant_of_shape(OpContext& ctx) {
  const Shape shape = to_int64_vector(ctx, ctx.input(0));
  Tensor value;
  if (const auto* a = ctx.node().find("value"))
    value = a->t;
  else
    value = Tensor(ElementType::f32, {1});
  Tensor out(value.element_type(), shape);
  for (int64_t i = 0; i < out.element_count(); ++i) copy_elements(out, i, value, 0, 1);
  ctx.set_output(0, out);
}

void op_range(OpContext& ctx) {
  const Tensor& start = ctx.input(0);
  dispatch_numeric(start.element_type(), ctx, [&]<typename T>() {
    using C = compute_t<T>;
    const C s = static_cast<C>(start.data_as<T>()[0]);
    const C l = static_cast<C>(ctx.input(1).data_as<T>()[0]);
    const C d = static_cast<C>(ctx.input(2).data_as<T>()[0]);
    ctx.check(d != C(0), "delta must not be 0");
    const int64_t n = std::max<int64_t>(
        0, static_cast<int64_t>(std::ceil(static_cast<double>(l - s) / static_cast<double>(d))));
    Tensor out(start.element_type(), {n});
    for (int64_t i = 0; i < n; ++i) out.data_as<T>()[i] = static_cast<T>(s + static_cast<C>(i) * d);
    ctx.set_output(0, out);
  });
}

enum class PadMode { constant, reflect, edge, wrap };

// The input index along an axis of n elements that Pad reads for position k (k < 0 or k >= n in
// the padding), or -1 where it writes the constant.
int64_t padded_source(PadMode mode, int64_t k, int64_t n) {
  if (k >= 0 && k < n) return k;
  switch (mode) {
    case PadMode::constant:
      return -1;
    case PadMode::edge:
      return std::clamp<int64_t>(k, 0, n - 1);
    case PadMode::wrap:
      return ((k % n) + n) % n;
    case PadMode::reflect: {  // mirror without repeating the edge
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      k = ((k % period) + period) % period;
      return k >= n ? period - k : k;
    }
  }
  return -1;
}

void op_pad(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  std::string mode = ctx.attr_s("mode", "constant");
  std::vector<int64_t> pads;
  double value = 0;
  std::vector<int64_t> axes;
  if (ctx.opset() < 11) {
    pads = ctx.attr_ints(ctx.has_attr("pads") ? "pads" : "paddings");
    value = ctx.attr_f("value", 0.f);
  } else {
    pads = to_int64_vector(ctx, ctx.input(1));
    if (const Tensor* v = ctx.optional_input(2); v && v->element_count() > 0)
      value = scalar_as_double(ctx, *v);
    if (const Tensor* a = ctx.optional_input(3)) axes = to_int64_vector(ctx, *a);
  }
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  ctx.check(pads.size() == 2 * axes.size(), "pads has {} entries, expected {}", pads.size(),
            2 * axes.size());
  std::vector<int64_t> before(rank, 0), after(rank, 0);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = normalize_axis(ctx, axes[i], rank);
    before[a] = pads[i];
    after[a] = pads[i + axes.size()];
  }
  Shape out_shape(rank);
  for (int64_t d = 0; d < rank; ++d) {
    out_shape[d] = x.shape()[d] + before[d] + after[d];
    ctx.check(out_shape[d] >= 0, "padding makes axis {} negative", d);
    ctx.check(mode == "constant" || x.shape()[d] > 0 || (before[d] == 0 && after[d] == 0),
              "mode '{}' cannot pad an empty axis", mode);
  }
  ctx.check(mode == "constant" || mode == "reflect" || mode == "edge" || mode == "wrap",
            "unknown pad mode '{}'", mode);
  const PadMode pad_mode = mode == "constant" ? PadMode::constant
                           : mode == "edge"   ? PadMode::edge
                           : mode == "wrap"   ? PadMode::wrap
                                              : PadMode::reflect;
  Tensor out = Tensor::uninitialized(x.element_type(), out_shape);
  if (out.element_count() == 0) {
    ctx.set_output(0, out);
    return;
  }
  if (rank == 0) {
    ctx.set_output(0, x.clone());
    return;
  }
  const auto in_strides = strides_of(x.shape());
  const int64_t width = out_shape.back(), n = x.shape().back(), left = before.back();
  const int64_t rows = out.element_count() / width;
  // The middle of each output row is a copy of an input row; only the padded ends and the rows
  // of padded outer positions are computed element by element.
  const int64_t copy_from = std::clamp<int64_t>(left, 0, width);
  const int64_t copy_to = std::clamp<int64_t>(left + n, copy_from, width);
  dispatch_all(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
    const T fill = static_cast<T>(static_cast<compute_t<T>>(value));
    for (int64_t r = 0; r < rows; ++r) {
      T* row = dst + r * width;
      int64_t rem = r, offset = 0;
      bool outside = false;
      for (int64_t d = rank - 2; d >= 0 && !outside; --d) {
        const int64_t k = padded_source(pad_mode, rem % out_shape[d] - before[d], x.shape()[d]);
        rem /= out_shape[d];
        outside = k < 0;
        offset += k * in_strides[d];
      }
      if (outside) {
        std::fill_n(row, width, fill);
        continue;
      }
      const T* in = src + offset;
      for (int64_t j = 0; j < copy_from; ++j) {
        const int64_t k = padded_source(pad_mode, j - left, n);
        row[j] = k < 0 ? fill : in[k];
      }
      std::copy(in + (copy_from - left), in + (copy_to - left), row + copy_from);
      for (int64_t j = copy_to; j < width; ++j) {
        const int64_t k = padded_source(pad_mode, j - left, n);
        row[j] = k < 0 ? fill : in[k];
      }
    }
  });
  ctx.set_output(0, out);
}

void op_depth_to_space(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() == 4, "input must be 4-D, got {}", to_string(x.shape()));
  const int64_t b = ctx.attr_i("blocksize", 0);
  ctx.check(b > 0, "blocksize must be positive");
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  ctx.check(C % (b * b) == 0, "channels {} not divisible by blocksize^2", C);
  const int64_t c = C / (b * b);
  const bool crd = ctx.attr_s("mode", "DCR") == "CRD";
  // View as 6-D and permute, as the ONNX spec defines it.
  Tensor v = crd ? x.reshaped({N, c, b, b, H, W}) : x.reshaped({N, b, b, c, H, W});
  Tensor t = crd ? transpose_tensor(ctx, v, {0, 1, 4, 2, 5, 3})
                 : transpose_tensor(ctx, v, {0, 3, 4, 1, 5, 2});
  ctx.set_output(0, t.reshaped({N, c, H * b, W * b}));
}

void op_space_to_depth(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() == 4, "input must be 4-D, got {}", to_string(x.shape()));
  const int64_t b = ctx.attr_i("blocksize", 0);
  ctx.check(b > 0, "blocksize must be positive");
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  ctx.check(H % b == 0 && W % b == 0, "spatial size {}x{} not divisible by blocksize {}", H, W, b);
  Tensor v = x.reshaped({N, C, H / b, b, W / b, b});
  Tensor t = transpose_tensor(ctx, v, {0, 3, 5, 1, 2, 4});
  ctx.set_output(0, t.reshaped({N, C * b * b, H / b, W / b}));
}

void op_trilu(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() >= 2, "input must have rank >= 2");
  const int64_t k = ctx.has_input(1) ? to_int64_vector(ctx, ctx.input(1))[0] : 0;
  const bool upper = ctx.attr_i("upper", 1) != 0;
  const int64_t rows = x.shape()[x.rank() - 2], cols = x.shape()[x.rank() - 1];
  Tensor out = x.clone();
  dispatch_all(x.element_type(), ctx, [&]<typename T>() {
    T* p = out.data_as<T>();
    const int64_t plane = rows * cols;
    const int64_t mats = plane > 0 ? x.element_count() / plane : 0;
    for (int64_t m = 0; m < mats; ++m) {
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          const bool keep = upper ? (j - i >= k) : (j - i <= k);
          if (!keep) p[(m * rows + i) * cols + j] = T{};
        }
      }
    }
  });
  ctx.set_output(0, out);
}

void op_eye_like(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() == 2, "input must be 2-D");
  const ElementType type =
      ctx.has_attr("dtype") ? static_cast<ElementType>(ctx.attr_i("dtype", 1)) : x.element_type();
  const int64_t k = ctx.attr_i("k", 0);
  Tensor out(type, x.shape());
  dispatch_all(type, ctx, [&]<typename T>() {
    for (int64_t i = 0; i < x.shape()[0]; ++i) {
      const int64_t j = i + k;
      if (j >= 0 && j < x.shape()[1]) out.data_as<T>()[i * x.shape()[1] + j] = static_cast<T>(1);
    }
  });
  ctx.set_output(0, out);
}

void op_dropout(OpContext& ctx) {
  // Inference: identity. training_mode=true needs random numbers ONNX cannot pin down; refuse.
  if (const Tensor* t = ctx.optional_input(2); t && t->data_as<bool>()[0]) {
    const double ratio = ctx.has_input(1) ? scalar_as_double(ctx, ctx.input(1)) : 0.5;
    if (ratio != 0)
      ctx.fail(ErrorCategory::unsupported_op, "training-mode Dropout is not supported");
  }
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, x);
  if (ctx.wants_output(1)) {
    Tensor mask(ElementType::boolean, x.shape());
    std::memset(mask.data(), 1, mask.byte_size());
    ctx.set_output(1, mask);
  }
}

}  // namespace

void register_shape_ops(KernelRegistry& r) {
  r.add("Constant", op_constant);
  r.add("Identity", op_identity);
  r.add("Shape", op_shape);
  r.add("Size", op_size);
  r.add("Reshape", op_reshape);
  r.add("Flatten", op_flatten);
  r.add("Squeeze", op_squeeze);
  r.add("Unsqueeze", op_unsqueeze);
  r.add("Concat", op_concat);
  r.add("Split", op_split);
  r.add("Slice", op_slice);
  r.add("Transpose", op_transpose);
  r.add("Cast", op_cast);
  r.add("CastLike", op_cast_like);
  r.add("Expand", op_expand);
  r.add("Tile", op_tile);
  r.add("ConstantOfShape", op_constant_of_shape);
  r.add("Range", op_range);
  r.add("Pad", op_pad);
  r.add("DepthToSpace", op_depth_to_space);
  r.add("SpaceToDepth", op_space_to_depth);
  r.add("Trilu", op_trilu);
  r.add("EyeLike", op_eye_like);
  r.add("Dropout", op_dropout);
}

}  // namespace sinter::cpu
