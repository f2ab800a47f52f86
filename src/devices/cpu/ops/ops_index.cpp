// Gather/scatter family and other index-driven operators.
#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

int64_t fix_index(const OpContext& ctx, int64_t i, int64_t dim) {
  if (i < 0) i += dim;
  ctx.check(i >= 0 && i < dim, "index {} is out of range for a dimension of size {}", i, dim);
  return i;
}

void op_gather(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& idx = ctx.input(1);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  const auto indices = to_int64_vector(ctx, idx);
  Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
  out_shape.insert(out_shape.end(), idx.shape().begin(), idx.shape().end());
  out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor out(x.element_type(), out_shape);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const int64_t dim = x.shape()[axis];
  const int64_t n = static_cast<int64_t>(indices.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = fix_index(ctx, indices[k], dim);
      copy_elements(out, (o * n + k) * inner, x, (o * dim + i) * inner, inner);
    }
  }
  ctx.set_output(0, out);
}

// GatherElements/ScatterElements: the data offset of index element `i` (row-major in an indices
// tensor with strides `is`): its own position in every dimension but `axis`, where `index` is.
int64_t element_offset(const OpContext& ctx, int64_t i, const std::vector<int64_t>& is,
                       const std::vector<int64_t>& xs, const Shape& data_shape, int64_t axis,
                       int64_t index) {
  int64_t rem = i, off = 0;
  for (std::size_t d = 0; d < is.size(); ++d) {
    int64_t k = rem / is[d];
    rem %= is[d];
    if (static_cast<int64_t>(d) == axis) k = fix_index(ctx, index, data_shape[d]);
    off += k * xs[d];
  }
  return off;
}

void op_gather_elements(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& idx = ctx.input(1);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  ctx.check(idx.rank() == x.rank(), "indices must have the data's rank");
  const auto indices = to_int64_vector(ctx, idx);
  Tensor out(x.element_type(), idx.shape());
  const auto xs = strides_of(x.shape());
  const auto is = strides_of(idx.shape());
  for (int64_t i = 0; i < idx.element_count(); ++i) {
    const int64_t off = element_offset(ctx, i, is, xs, x.shape(), axis, indices[i]);
    copy_elements(out, i, x, off, 1);
  }
  ctx.set_output(0, out);
}

void op_gather_nd(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& idx = ctx.input(1);
  const int64_t b = ctx.attr_i("batch_dims", 0);
  const int64_t q = idx.rank(), r = x.rank();
  ctx.check(q >= 1, "indices must have rank >= 1");
  const int64_t last = idx.shape()[q - 1];
  ctx.check(last >= 1 && b + last <= r, "indices' last dimension {} does not fit data rank {}",
            last, r);
  const auto indices = to_int64_vector(ctx, idx);
  Shape out_shape(idx.shape().begin(), idx.shape().end() - 1);
  out_shape.insert(out_shape.end(), x.shape().begin() + b + last, x.shape().end());
  Tensor out(x.element_type(), out_shape);
  int64_t batch = 1;
  for (int64_t d = 0; d < b; ++d) batch *= x.shape()[d];
  int64_t slice = 1;
  for (int64_t d = b + last; d < r; ++d) slice *= x.shape()[d];
  const auto xs = strides_of(x.shape());
  const int64_t per_batch_idx = batch ? (idx.element_count() / last) / batch : 0;
  const int64_t x_batch_stride = b > 0 ? xs[b - 1] : 0;
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t k = 0; k < per_batch_idx; ++k) {
      const int64_t row = bi * per_batch_idx + k;
      int64_t off = bi * x_batch_stride;
      for (int64_t j = 0; j < last; ++j) {
        off += fix_index(ctx, indices[row * last + j], x.shape()[b + j]) * xs[b + j];
      }
      copy_elements(out, row * slice, x, off, slice);
    }
  }
  ctx.set_output(0, out);
}

template <typename T>
void reduce_into(T& dst, T v, const std::string& reduction) {
  using C = compute_t<T>;
  if (reduction == "add")
    dst = static_cast<T>(static_cast<C>(dst) + static_cast<C>(v));
  else if (reduction == "mul")
    dst = static_cast<T>(static_cast<C>(dst) * static_cast<C>(v));
  else if (reduction == "max")
    dst = static_cast<C>(v) > static_cast<C>(dst) ? v : dst;
  else if (reduction == "min")
    dst = static_cast<C>(v) < static_cast<C>(dst) ? v : dst;
  else
    dst = v;
}

void op_scatter_elements(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& idx = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  const std::string reduction = ctx.attr_s("reduction", "none");
  ctx.check(idx.shape() == upd.shape(), "indices {} and updates {} must have the same shape",
            to_string(idx.shape()), to_string(upd.shape()));
  const auto indices = to_int64_vector(ctx, idx);
  Tensor out = x.clone();
  const auto xs = strides_of(x.shape());
  const auto is = strides_of(idx.shape());
  dispatch_all(x.element_type(), ctx, [&]<typename T>() {
    T* o = out.data_as<T>();
    const T* u = upd.data_as<T>();
    for (int64_t i = 0; i < idx.element_count(); ++i) {
      const int64_t off = element_offset(ctx, i, is, xs, x.shape(), axis, indices[i]);
      if constexpr (std::is_same_v<T, bool>)
        o[off] = u[i];
      else
        reduce_into(o[off], u[i], reduction);
    }
  });
  ctx.set_output(0, out);
}

void op_scatter_nd(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& idx = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  const std::string reduction = ctx.attr_s("reduction", "none");
  const int64_t last = idx.shape().back();
  ctx.check(last <= x.rank(), "indices' last dimension {} exceeds data rank {}", last, x.rank());
  const auto indices = to_int64_vector(ctx, idx);
  const auto xs = strides_of(x.shape());
  int64_t slice = 1;
  for (int64_t d = last; d < x.rank(); ++d) slice *= x.shape()[d];
  const int64_t rows = last ? static_cast<int64_t>(indices.size()) / last : 0;
  ctx.check(upd.element_count() == rows * slice, "updates has {} elements, expected {}",
            upd.element_count(), rows * slice);
  Tensor out = x.clone();
  dispatch_all(x.element_type(), ctx, [&]<typename T>() {
    T* o = out.data_as<T>();
    const T* u = upd.data_as<T>();
    for (int64_t r = 0; r < rows; ++r) {
      int64_t off = 0;
      for (int64_t j = 0; j < last; ++j)
        off += fix_index(ctx, indices[r * last + j], x.shape()[j]) * xs[j];
      for (int64_t k = 0; k < slice; ++k) {
        if constexpr (std::is_same_v<T, bool>)
          o[off + k] = u[r * slice + k];
        else
          reduce_into(o[off + k], u[r * slice + k], reduction);
      }
    }
  });
  ctx.set_output(0, out);
}

void op_onehot(OpContext& ctx) {
  const Tensor& idx = ctx.input(0);
  const int64_t depth = static_cast<int64_t>(scalar_as_double(ctx, ctx.input(1)));
  const Tensor& values = ctx.input(2);
  ctx.check(values.element_count() == 2, "values must have 2 elements");
  ctx.check(depth > 0, "depth must be positive");
  const int64_t out_rank = idx.rank() + 1;
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", -1), out_rank);
  Shape out_shape(idx.shape());
  out_shape.insert(out_shape.begin() + axis, depth);
  Tensor out(values.element_type(), out_shape);
  const Tensor idx64 = convert_tensor(ctx, idx, ElementType::f64);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out_shape[d];
  for (int64_t d = axis + 1; d < out_rank; ++d) inner *= out_shape[d];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t dd = 0; dd < depth; ++dd) {
      for (int64_t in = 0; in < inner; ++in) {
        int64_t k = static_cast<int64_t>(idx64.data_as<double>()[o * inner + in]);
        if (k < 0) k += depth;
        copy_elements(out, (o * depth + dd) * inner + in, values, k == dd ? 1 : 0, 1);
      }
    }
  }
  ctx.set_output(0, out);
}

void op_nonzero(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto xs = strides_of(x.shape());
  std::vector<int64_t> hits;
  dispatch_all(x.element_type(), ctx, [&]<typename T>() {
    for (int64_t i = 0; i < x.element_count(); ++i) {
      if (static_cast<compute_t<T>>(x.data_as<T>()[i]) != compute_t<T>(0)) hits.push_back(i);
    }
  });
  const int64_t rank = std::max<int64_t>(x.rank(), 1);
  Tensor out(ElementType::i64, {x.rank(), static_cast<int64_t>(hits.size())});
  (void)rank;
  for (std::size_t h = 0; h < hits.size(); ++h) {
    int64_t rem = hits[h];
    for (int64_t d = 0; d < x.rank(); ++d) {
      out.data_as<int64_t>()[d * hits.size() + h] = rem / xs[d];
      rem %= xs[d];
    }
  }
  ctx.set_output(0, out);
}

void op_compress(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  std::vector<int64_t> keep;
  const Tensor c = convert_tensor(ctx, cond, ElementType::boolean);
  if (!ctx.has_attr("axis")) {
    for (int64_t i = 0; i < std::min(c.element_count(), x.element_count()); ++i) {
      if (c.data_as<bool>()[i]) keep.push_back(i);
    }
    Tensor out(x.element_type(), {static_cast<int64_t>(keep.size())});
    for (std::size_t i = 0; i < keep.size(); ++i) copy_elements(out, i, x, keep[i], 1);
    ctx.set_output(0, out);
    return;
  }
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  for (int64_t i = 0; i < std::min(c.element_count(), x.shape()[axis]); ++i) {
    if (c.data_as<bool>()[i]) keep.push_back(i);
  }
  Shape s = x.shape();
  s[axis] = static_cast<int64_t>(keep.size());
  Tensor out(x.element_type(), s);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const int64_t n = static_cast<int64_t>(keep.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k = 0; k < n; ++k) {
      copy_elements(out, (o * n + k) * inner, x, (o * x.shape()[axis] + keep[k]) * inner, inner);
    }
  }
  ctx.set_output(0, out);
}

void op_reverse_sequence(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto lens = to_int64_vector(ctx, ctx.input(1));
  const int64_t batch_axis = ctx.attr_i("batch_axis", 1), time_axis = ctx.attr_i("time_axis", 0);
  Tensor out = x.clone();
  const auto xs = strides_of(x.shape());
  for (int64_t i = 0; i < x.element_count(); ++i) {
    int64_t rem = i;
    std::vector<int64_t> id(x.rank());
    for (int64_t d = 0; d < x.rank(); ++d) {
      id[d] = rem / xs[d];
      rem %= xs[d];
    }
    const int64_t len = lens[id[batch_axis]];
    if (id[time_axis] < len) {
      const int64_t src = i + (len - 1 - 2 * id[time_axis]) * xs[time_axis];
      copy_elements(out, i, x, src, 1);
    }
  }
  ctx.set_output(0, out);
}

void op_unique(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const bool sorted = ctx.attr_i("sorted", 1) != 0;
  // Slices along `axis` (or single elements when flattening) are the unit of uniqueness.
  int64_t axis = -1;
  Tensor data = x;
  if (ctx.has_attr("axis"))
    axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  else
    data = x.reshaped({x.element_count()});
  const int64_t ax = axis < 0 ? 0 : axis;
  // Move the axis to the front so each slice is contiguous.
  std::vector<int64_t> perm;
  perm.push_back(ax);
  for (int64_t d = 0; d < data.rank(); ++d) {
    if (d != ax) perm.push_back(d);
  }
  const Tensor front = ax == 0 ? data : transpose_tensor(ctx, data, perm);
  const int64_t n = data.shape()[ax];
  const int64_t slice = n ? front.element_count() / n : 0;
  Tensor as_double = convert_tensor(ctx, front, ElementType::f64);
  const double* v = as_double.data_as<double>();
  auto less = [&](int64_t a, int64_t b) {
    return std::lexicographical_compare(v + a * slice, v + (a + 1) * slice, v + b * slice,
                                        v + (b + 1) * slice);
  };
  auto equal = [&](int64_t a, int64_t b) {
    return std::equal(v + a * slice, v + (a + 1) * slice, v + b * slice);
  };
  std::vector<int64_t> first_of;  // unique slices, by first occurrence
  std::vector<int64_t> inverse(n), counts;
  for (int64_t i = 0; i < n; ++i) {
    int64_t found = -1;
    for (std::size_t u = 0; u < first_of.size(); ++u) {
      if (equal(first_of[u], i)) {
        found = static_cast<int64_t>(u);
        break;
      }
    }
    if (found < 0) {
      first_of.push_back(i);
      counts.push_back(0);
      found = static_cast<int64_t>(first_of.size()) - 1;
    }
    inverse[i] = found;
    ++counts[found];
  }
  std::vector<int64_t> order(first_of.size());
  std::iota(order.begin(), order.end(), 0);
  if (sorted) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return less(first_of[a], first_of[b]); });
  }
  std::vector<int64_t> rank_of(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) rank_of[order[i]] = static_cast<int64_t>(i);
  const int64_t u = static_cast<int64_t>(order.size());
  Shape ys = front.shape();
  ys[0] = u;
  Tensor y(x.element_type(), ys);
  std::vector<int64_t> idx_out(u), cnt_out(u), inv_out(n);
  for (int64_t i = 0; i < u; ++i) {
    copy_elements(y, i * slice, front, first_of[order[i]] * slice, slice);
    idx_out[i] = first_of[order[i]];
    cnt_out[i] = counts[order[i]];
  }
  for (int64_t i = 0; i < n; ++i) inv_out[i] = rank_of[inverse[i]];
  if (ax != 0) {
    std::vector<int64_t> back(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) back[perm[i]] = static_cast<int64_t>(i);
    y = transpose_tensor(ctx, y, back);
  }
  ctx.set_output(0, y);
  ctx.set_output(1, make_i64_tensor(idx_out, {u}));
  ctx.set_output(2, make_i64_tensor(inv_out, {n}));
  ctx.set_output(3, make_i64_tensor(cnt_out, {u}));
}

}  // namespace

void register_index_ops(KernelRegistry& r) {
  r.add("Gather", op_gather);
  r.add("GatherElements", op_gather_elements);
  r.add("GatherND", op_gather_nd);
  r.add("Scatter", op_scatter_elements);
  r.add("ScatterElements", op_scatter_elements);
  r.add("ScatterND", op_scatter_nd);
  r.add("OneHot", op_onehot);
  r.add("NonZero", op_nonzero);
  r.add("Compress", op_compress);
  r.add("ReverseSequence", op_reverse_sequence);
  r.add("Unique", op_unique);
}

}  // namespace sinter::cpu
