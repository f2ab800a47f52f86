// Reductions, arg-reductions, cumulative sums, TopK and the softmax family.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

enum class Reduce { sum, mean, max, min, prod, l1, l2, log_sum, log_sum_exp, sum_square };

template <Reduce R>
void op_reduce(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  std::vector<int64_t> axes;
  // Axes moved from attribute to input: ReduceSum at opset 13, the others at 18.
  const bool axes_as_input = (R == Reduce::sum && ctx.opset() >= 13) || ctx.opset() >= 18;
  if (axes_as_input) {
    if (const Tensor* t = ctx.optional_input(1)) axes = to_int64_vector(ctx, *t);
  } else {
    axes = ctx.attr_ints("axes");
  }
  const bool keepdims = ctx.attr_i("keepdims", 1) != 0;
  if (axes.empty() && ctx.attr_i("noop_with_empty_axes", 0) != 0) {
    ctx.set_output(0, x);
    return;
  }
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) reduced[normalize_axis(ctx, a, rank)] = true;
  Shape out_shape, kept_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      if (keepdims) out_shape.push_back(1);
      kept_shape.push_back(1);
    } else {
      out_shape.push_back(x.shape()[d]);
      kept_shape.push_back(x.shape()[d]);
    }
  }
  const int64_t n_out = element_count(kept_shape);
  const int64_t group = n_out ? x.element_count() / n_out : 0;
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    double init = 0;
    if constexpr (R == Reduce::max) init = -std::numeric_limits<double>::infinity();
    if constexpr (R == Reduce::min) init = std::numeric_limits<double>::infinity();
    if constexpr (R == Reduce::prod) init = 1;
    std::vector<double> acc(static_cast<std::size_t>(n_out), init);
    const T* src = x.data_as<T>();
    auto out_strides = strides_of(kept_shape);
    for (int64_t d = 0; d < rank; ++d) {
      if (reduced[d]) out_strides[d] = 0;
    }
    for_each_index2(x.shape(), strides_of(x.shape()), out_strides,
                    [&](int64_t, int64_t i, int64_t o) {
                      const double v = static_cast<double>(static_cast<compute_t<T>>(src[i]));
                      double& a = acc[o];
                      if constexpr (R == Reduce::sum || R == Reduce::mean || R == Reduce::log_sum)
                        a += v;
                      else if constexpr (R == Reduce::max)
                        a = (v > a || std::isnan(v)) ? v : a;
                      else if constexpr (R == Reduce::min)
                        a = (v < a || std::isnan(v)) ? v : a;
                      else if constexpr (R == Reduce::prod)
                        a *= v;
                      else if constexpr (R == Reduce::l1)
                        a += std::fabs(v);
                      else if constexpr (R == Reduce::l2 || R == Reduce::sum_square)
                        a += v * v;
                      else if constexpr (R == Reduce::log_sum_exp)
                        a += std::exp(v);
                    });
    Tensor out(x.element_type(), out_shape);
    T* dst = out.data_as<T>();
    for (int64_t i = 0; i < n_out; ++i) {
      double a = acc[i];
      if constexpr (R == Reduce::mean) a = group ? a / static_cast<double>(group) : std::nan("");
      if constexpr (R == Reduce::l2) a = std::sqrt(a);
      if constexpr (R == Reduce::log_sum || R == Reduce::log_sum_exp) a = std::log(a);
      if constexpr (std::is_integral_v<T>) {
        if (std::isinf(a))
          a = a > 0 ? static_cast<double>(std::numeric_limits<T>::max())
                    : static_cast<double>(std::numeric_limits<T>::lowest());
      }
      dst[i] = static_cast<T>(static_cast<compute_t<T>>(a));
    }
    ctx.set_output(0, out);
  });
}

template <bool Max>
void op_arg(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  const bool keepdims = ctx.attr_i("keepdims", 1) != 0;
  const bool last = ctx.attr_i("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const int64_t n = x.shape()[axis];
  Shape s = x.shape();
  if (keepdims)
    s[axis] = 1;
  else
    s.erase(s.begin() + axis);
  Tensor out(ElementType::i64, s);
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        int64_t best = 0;
        auto bv = static_cast<compute_t<T>>(src[o * n * inner + in]);
        for (int64_t k = 1; k < n; ++k) {
          const auto v = static_cast<compute_t<T>>(src[(o * n + k) * inner + in]);
          const bool better = Max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
          if (better) {
            bv = v;
            best = k;
          }
        }
        out.data_as<int64_t>()[o * inner + in] = best;
      }
    }
  });
  ctx.set_output(0, out);
}

void op_cumsum(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, to_int64_vector(ctx, ctx.input(1))[0], x.rank());
  const bool exclusive = ctx.attr_i("exclusive", 0) != 0;
  const bool reverse = ctx.attr_i("reverse", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const int64_t n = x.shape()[axis];
  Tensor out(x.element_type(), x.shape());
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        compute_t<T> acc = 0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t k = reverse ? n - 1 - j : j;
          const int64_t off = (o * n + k) * inner + in;
          const compute_t<T> v = static_cast<compute_t<T>>(src[off]);
          if (exclusive) {
            dst[off] = static_cast<T>(acc);
            acc += v;
          } else {
            acc += v;
            dst[off] = static_cast<T>(acc);
          }
        }
      }
    }
  });
  ctx.set_output(0, out);
}

void op_topk(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", -1), x.rank());
  const int64_t k = ctx.opset() < 10 ? ctx.attr_i("k", 0) : to_int64_vector(ctx, ctx.input(1))[0];
  const bool largest = ctx.attr_i("largest", 1) != 0;
  const int64_t n = x.shape()[axis];
  ctx.check(k >= 0 && k <= n, "k={} is out of range for axis {} of size {}", k, axis, n);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  Shape s = x.shape();
  s[axis] = k;
  Tensor values(x.element_type(), s), indices(ElementType::i64, s);
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    std::vector<int64_t> order(n);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        auto at = [&](int64_t j) {
          return static_cast<compute_t<T>>(src[(o * n + j) * inner + in]);
        };
        std::iota(order.begin(), order.end(), 0);
        // Ties keep the lower index first, as the spec asks.
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
          return largest ? at(a) > at(b) : at(a) < at(b);
        });
        for (int64_t j = 0; j < k; ++j) {
          const int64_t off = (o * k + j) * inner + in;
          values.data_as<T>()[off] = src[(o * n + order[j]) * inner + in];
          indices.data_as<int64_t>()[off] = order[j];
        }
      }
    }
  });
  ctx.set_output(0, values);
  ctx.set_output(1, indices);
}

enum class SoftmaxKind { softmax, log_softmax, hardmax };

template <SoftmaxKind K>
void op_softmax(OpContext& ctx) {
  if constexpr (K != SoftmaxKind::hardmax) {
    if (softmax_fast_path(ctx, K == SoftmaxKind::log_softmax)) return;
  }
  const Tensor& x = ctx.input(0);
  const bool legacy = ctx.opset() < 13;  // before 13: coerce to 2-D at `axis` (default 1)
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", legacy ? 1 : -1), x.rank());
  int64_t outer = 1, n = 1, inner = 1;
  if (legacy) {
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    for (int64_t d = axis; d < x.rank(); ++d) n *= x.shape()[d];
  } else {
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    n = x.shape()[axis];
    for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  }
  Tensor out(x.element_type(), x.shape());
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
    parallel_for(outer * inner, outer * inner > 64, [&](int64_t oi) {
      const int64_t o = oi / inner, in = oi % inner;
      auto off = [&](int64_t j) { return (o * n + j) * inner + in; };
      double mx = -std::numeric_limits<double>::infinity();
      int64_t arg = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double v = static_cast<float>(src[off(j)]);
        if (v > mx) {
          mx = v;
          arg = j;
        }
      }
      if constexpr (K == SoftmaxKind::hardmax) {
        for (int64_t j = 0; j < n; ++j) dst[off(j)] = static_cast<T>(j == arg ? 1.0f : 0.0f);
      } else {
        double sum = 0;
        for (int64_t j = 0; j < n; ++j)
          sum += std::exp(static_cast<double>(static_cast<compute_t<T>>(src[off(j)])) - mx);
        for (int64_t j = 0; j < n; ++j) {
          const double v = static_cast<double>(static_cast<compute_t<T>>(src[off(j)])) - mx;
          const double r = K == SoftmaxKind::softmax ? std::exp(v) / sum : v - std::log(sum);
          dst[off(j)] = static_cast<T>(static_cast<compute_t<T>>(r));
        }
      }
    });
  });
  ctx.set_output(0, out);
}

}  // namespace

void register_reduce_ops(KernelRegistry& r) {
  r.add("ReduceSum", op_reduce<Reduce::sum>);
  r.add("ReduceMean", op_reduce<Reduce::mean>);
  r.add("ReduceMax", op_reduce<Reduce::max>);
  r.add("ReduceMin", op_reduce<Reduce::min>);
  r.add("ReduceProd", op_reduce<Reduce::prod>);
  r.add("ReduceL1", op_reduce<Reduce::l1>);
  r.add("ReduceL2", op_reduce<Reduce::l2>);
  r.add("ReduceLogSum", op_reduce<Reduce::log_sum>);
  r.add("ReduceLogSumExp", op_reduce<Reduce::log_sum_exp>);
  r.add("ReduceSumSquare", op_reduce<Reduce::sum_square>);
  r.add("ArgMax", op_arg<true>);
  r.add("ArgMin", op_arg<false>);
  r.add("CumSum", op_cumsum);
  r.add("TopK", op_topk);
  r.add("Softmax", op_softmax<SoftmaxKind::softmax>);
  r.add("LogSoftmax", op_softmax<SoftmaxKind::log_softmax>);
  r.add("Hardmax", op_softmax<SoftmaxKind::hardmax>);
}

}  // namespace sinter::cpu
