// Pooling: MaxPool (with indices), AveragePool, LpPool, the global variants and MaxUnpool.
#include <cmath>
#include <limits>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

enum class Pool { max, average, lp };

// Visits the window of output position `o` (flat over spatial dims); f(input_offset) for every
// in-bounds tap; returns the number of taps including padding (for count_include_pad).
template <typename F>
int64_t visit_window(const ConvGeometry& g, const Shape& in_sp, const Shape& out_sp,
                     const std::vector<int64_t>& in_st, int64_t o, F&& f) {
  const int64_t sp = static_cast<int64_t>(in_sp.size());
  std::vector<int64_t> start(sp), kidx(sp, 0);
  int64_t rem = o;
  for (int64_t d = sp - 1; d >= 0; --d) {
    start[d] = (rem % out_sp[d]) * g.strides[d] - g.pads_begin[d];
    rem /= out_sp[d];
  }
  int64_t padded_taps = 1;
  for (int64_t d = 0; d < sp; ++d) {
    // Taps inside input + pads (the padded extent), as count_include_pad counts them.
    int64_t n = 0;
    for (int64_t k = 0; k < g.kernel[d]; ++k) {
      const int64_t p = start[d] + k * g.dilations[d];
      if (p >= -g.pads_begin[d] && p < in_sp[d] + g.pads_end[d]) ++n;
    }
    padded_taps *= n;
  }
  int64_t total = 1;
  for (int64_t k : g.kernel) total *= k;
  for (int64_t t = 0; t < total; ++t) {
    int64_t r = t, off = 0;
    bool inside = true;
    for (int64_t d = sp - 1; d >= 0; --d) {
      const int64_t k = r % g.kernel[d];
      r /= g.kernel[d];
      const int64_t p = start[d] + k * g.dilations[d];
      if (p < 0 || p >= in_sp[d]) inside = false;
      off += p * in_st[d];
    }
    if (inside) f(off);
  }
  return padded_taps;
}

template <Pool P>
void op_pool(OpContext& ctx) {
  if constexpr (P != Pool::lp) {
    if (pool_fast_path(ctx)) return;
  }
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() >= 3, "input must be N-D with N >= 3, got {}", to_string(x.shape()));
  const ConvGeometry g = pool_geometry(ctx, x.shape());
  const bool include_pad = ctx.attr_i("count_include_pad", 0) != 0;
  const int64_t p_norm = ctx.attr_i("p", 2);
  const bool col_major = ctx.attr_i("storage_order", 0) != 0;
  Tensor out(x.element_type(), g.output_shape);
  Tensor indices(ElementType::i64, g.output_shape);
  const Shape in_sp(x.shape().begin() + 2, x.shape().end());
  const Shape out_sp(g.output_shape.begin() + 2, g.output_shape.end());
  const int64_t in_size = element_count(in_sp), out_size = element_count(out_sp);
  const auto in_st = strides_of(in_sp);
  const int64_t planes = x.shape()[0] * x.shape()[1];
  auto dispatch = [&](auto&& body) {
    if (P == Pool::max)
      dispatch_numeric(x.element_type(), ctx, body);
    else
      dispatch_float(x.element_type(), ctx, body);
  };
  dispatch([&]<typename T>() {
    const T* px = x.data_as<T>();
    T* po = out.data_as<T>();
    parallel_for(planes, true, [&](int64_t plane) {
      const T* src = px + plane * in_size;
      for (int64_t o = 0; o < out_size; ++o) {
        double acc = P == Pool::max ? -std::numeric_limits<double>::infinity() : 0.0;
        int64_t best = -1, count = 0;
        const int64_t padded = visit_window(g, in_sp, out_sp, in_st, o, [&](int64_t off) {
          const double v = static_cast<double>(static_cast<compute_t<T>>(src[off]));
          ++count;
          if constexpr (P == Pool::max) {
            if (v > acc || best < 0) {
              acc = v;
              best = off;
            }
          } else if constexpr (P == Pool::average) {
            acc += v;
          } else {
            acc += std::pow(std::fabs(v), static_cast<double>(p_norm));
          }
        });
        if constexpr (P == Pool::average) acc /= static_cast<double>(include_pad ? padded : count);
        if constexpr (P == Pool::lp) acc = std::pow(acc, 1.0 / static_cast<double>(p_norm));
        po[plane * out_size + o] = static_cast<T>(static_cast<compute_t<T>>(acc));
        if constexpr (P == Pool::max) {
          int64_t flat = best;
          if (col_major && best >= 0) {
            // Column-major index within the plane: reverse the order of the spatial strides.
            int64_t r = best, cm = 0, mul = 1;
            std::vector<int64_t> id(in_sp.size());
            for (std::size_t d = 0; d < in_sp.size(); ++d) {
              id[d] = r / in_st[d];
              r %= in_st[d];
            }
            for (std::size_t d = 0; d < in_sp.size(); ++d) {
              cm += id[d] * mul;
              mul *= in_sp[d];
            }
            flat = cm;
          }
          indices.data_as<int64_t>()[plane * out_size + o] = plane * in_size + flat;
        }
      }
    });
  });
  ctx.set_output(0, out);
  if (ctx.wants_output(1)) ctx.set_output(1, indices);
}

template <Pool P>
void op_global_pool(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() >= 3, "input must be N-D with N >= 3, got {}", to_string(x.shape()));
  Shape s(x.rank(), 1);
  s[0] = x.shape()[0];
  s[1] = x.shape()[1];
  const int64_t planes = s[0] * s[1];
  const int64_t size = planes ? x.element_count() / planes : 0;
  const int64_t p_norm = ctx.attr_i("p", 2);
  Tensor out(x.element_type(), s);
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    const T* px = x.data_as<T>();
    parallel_for(planes, planes * size > 65536, [&](int64_t plane) {
      double acc = P == Pool::max ? -std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t i = 0; i < size; ++i) {
        const double v = static_cast<double>(static_cast<compute_t<T>>(px[plane * size + i]));
        if constexpr (P == Pool::max)
          acc = std::max(acc, v);
        else if constexpr (P == Pool::average)
          acc += v;
        else
          acc += std::pow(std::fabs(v), static_cast<double>(p_norm));
      }
      if constexpr (P == Pool::average) acc /= static_cast<double>(size);
      if constexpr (P == Pool::lp) acc = std::pow(acc, 1.0 / static_cast<double>(p_norm));
      out.data_as<T>()[plane] = static_cast<T>(static_cast<compute_t<T>>(acc));
    });
  });
  ctx.set_output(0, out);
}

void op_max_unpool(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto idx = to_int64_vector(ctx, ctx.input(1));
  const std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  const int64_t sp = x.rank() - 2;
  const auto strides = ctx.attr_ints("strides", std::vector<int64_t>(sp, 1));
  const auto pads = ctx.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
  // Indices address the shape MaxPool's input had (inferred from the pooling attributes);
  // an explicit output_shape may be larger (padding), and each element keeps its position.
  Shape pooled_from = {x.shape()[0], x.shape()[1]};
  for (int64_t d = 0; d < sp; ++d) {
    pooled_from.push_back((x.shape()[2 + d] - 1) * strides[d] + kernel[d] - pads[d] - pads[sp + d]);
  }
  Shape out_shape = pooled_from;
  if (const Tensor* os = ctx.optional_input(2)) {
    out_shape = to_int64_vector(ctx, *os);
    ctx.check(out_shape.size() == pooled_from.size(), "output_shape {} must have rank {}",
              to_string(out_shape), pooled_from.size());
    for (size_t d = 0; d < out_shape.size(); ++d) {
      ctx.check(out_shape[d] >= pooled_from[d], "output_shape {} is smaller than {}",
                to_string(out_shape), to_string(pooled_from));
    }
  }
  Tensor out(x.element_type(), out_shape);
  const int64_t n = element_count(pooled_from);
  const auto out_strides = strides_of(out_shape);
  for (int64_t i = 0; i < x.element_count(); ++i) {
    ctx.check(idx[i] >= 0 && idx[i] < n, "index {} is outside the unpooled {} elements", idx[i], n);
    int64_t rest = idx[i], offset = 0;
    for (size_t d = pooled_from.size(); d-- > 0;) {
      offset += (rest % pooled_from[d]) * out_strides[d];
      rest /= pooled_from[d];
    }
    copy_elements(out, offset, x, i, 1);
  }
  ctx.set_output(0, out);
}

// MaxPool / AveragePool between convolutions, in their layout (domain sinter.cpu; layout
// propagation makes these only where onednn_pools() holds): oneDNN's pooling and nothing else,
// since the C++ kernel above reads plain tensors only.
void op_pool_in_conv_layout(OpContext& ctx) {
  ctx.check(ctx.input(0).element_type() == ElementType::f32, "expects f32 input, got {}",
            to_string(ctx.input(0).element_type()));
  if (!pool_fast_path(ctx)) {
    ctx.fail(ErrorCategory::internal, "oneDNN cannot pool input {} in layout '{}'",
             to_string(ctx.input(0).shape()), ctx.attr_s("layout", ""));
  }
}

}  // namespace

void register_pool_ops(KernelRegistry& r) {
  r.add("MaxPool", op_pool_in_conv_layout, kCpuDomain);
  r.add("AveragePool", op_pool_in_conv_layout, kCpuDomain);
  r.add("MaxPool", op_pool<Pool::max>);
  r.add("AveragePool", op_pool<Pool::average>);
  r.add("LpPool", op_pool<Pool::lp>);
  r.add("GlobalMaxPool", op_global_pool<Pool::max>);
  r.add("GlobalAveragePool", op_global_pool<Pool::average>);
  r.add("GlobalLpPool", op_global_pool<Pool::lp>);
  r.add("MaxUnpool", op_max_unpool);
}

}  // namespace sinter::cpu
