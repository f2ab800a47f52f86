// MatMul, Gemm, Conv and ConvTranspose. float32 goes through oneDNN; other types through plain
// loops with the same semantics.
#include <dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_descriptor.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/linalg.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta;
    }
    return;
  }
  const auto st = dnnl::sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b,
                              ldb, beta, c, ldc);
  if (st != dnnl::status::success) {
    raise(ErrorCategory::internal, "oneDNN sgemm failed ({}x{}x{})", m, n, k);
  }
}

namespace {

using onednn::engine;

void op_matmul(OpContext& ctx) {
  if (is_half_float(ctx.input(0))) return run_widened(ctx, op_matmul);
  Tensor a = ctx.input(0);
  Tensor b = ctx.input(1);
  ctx.check(a.element_type() == b.element_type(), "A is {}, B is {}", to_string(a.element_type()),
            to_string(b.element_type()));
  ctx.check(a.rank() >= 1 && b.rank() >= 1, "inputs must have rank >= 1");
  // 1-D operands are promoted to matrices and the added dimension is dropped afterwards.
  const bool a_vec = a.rank() == 1, b_vec = b.rank() == 1;
  if (a_vec) a = a.reshaped({1, a.shape()[0]});
  if (b_vec) b = b.reshaped({b.shape()[0], 1});
  const int64_t m = a.shape()[a.rank() - 2], k = a.shape()[a.rank() - 1];
  const int64_t k2 = b.shape()[b.rank() - 2], n = b.shape()[b.rank() - 1];
  ctx.check(k == k2, "inner dimensions differ: A is {}, B is {}", to_string(ctx.input(0).shape()),
            to_string(ctx.input(1).shape()));
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  const Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(ctx, a_batch, b_batch);
  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  // Written whole: every product, and zeros by the k = 0 case of gemm.
  Tensor out = Tensor::uninitialized(a.element_type(), out_shape);
  const int64_t batches = element_count(batch);
  const auto sa = broadcast_strides(a_batch, batch), sb = broadcast_strides(b_batch, batch);
  std::vector<int64_t> a_off(batches), b_off(batches);
  for_each_index2(batch, sa, sb, [&](int64_t i, int64_t oa, int64_t ob) {
    a_off[i] = oa;
    b_off[i] = ob;
  });
  dispatch_numeric(a.element_type(), ctx, [&]<typename T>() {
    const T* pa = a.data_as<T>();
    const T* pb = b.data_as<T>();
    T* pc = out.data_as<T>();
    for (int64_t i = 0; i < batches; ++i) {
      if constexpr (std::is_same_v<T, float>) {
        gemm_f32(false, false, m, n, k, 1.f, pa + a_off[i] * m * k, k, pb + b_off[i] * k * n, n,
                 0.f, pc + i * m * n, n);
      } else {
        using Acc = std::conditional_t<is_floating_v<T>, double, compute_t<T>>;
        gemm_generic<T, Acc>(false, false, m, n, k, Acc(1), pa + a_off[i] * m * k, k,
                             pb + b_off[i] * k * n, n, Acc(0), pc + i * m * n, n);
      }
    }
  });
  ctx.set_output(0, out);
}

void op_gemm(OpContext& ctx) {
  if (is_half_float(ctx.input(0))) return run_widened(ctx, op_gemm);
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const bool ta = ctx.attr_i("transA", 0) != 0, tb = ctx.attr_i("transB", 0) != 0;
  const float alpha = ctx.attr_f("alpha", 1.f), beta = ctx.attr_f("beta", 1.f);
  ctx.check(a.rank() == 2 && b.rank() == 2, "A and B must be 2-D, got {} and {}",
            to_string(a.shape()), to_string(b.shape()));
  const int64_t m = ta ? a.shape()[1] : a.shape()[0], k = ta ? a.shape()[0] : a.shape()[1];
  const int64_t k2 = tb ? b.shape()[1] : b.shape()[0], n = tb ? b.shape()[0] : b.shape()[1];
  ctx.check(k == k2, "inner dimensions differ: A {} (transA={}), B {} (transB={})",
            to_string(a.shape()), ta, to_string(b.shape()), tb);
  Tensor out(a.element_type(), {m, n});
  const Tensor* c = ctx.optional_input(2);
  if (c && beta != 0) {
    // Broadcast C into the output first, then accumulate with beta.
    const auto sc = broadcast_strides(c->shape(), out.shape());
    ctx.check(broadcast_shapes(ctx, c->shape(), out.shape()) == out.shape(),
              "C of shape {} does not broadcast to {}", to_string(c->shape()),
              to_string(out.shape()));
    dispatch_numeric(a.element_type(), ctx, [&]<typename T>() {
      const T* src = c->data_as<T>();
      T* dst = out.data_as<T>();
      std::vector<int64_t> zero(2, 0);
      for_each_index2(out.shape(), sc, zero,
                      [&](int64_t i, int64_t s, int64_t) { dst[i] = src[s]; });
    });
  }
  const float eff_beta = c ? beta : 0.f;
  dispatch_numeric(a.element_type(), ctx, [&]<typename T>() {
    if constexpr (std::is_same_v<T, float>) {
      gemm_f32(ta, tb, m, n, k, alpha, a.data_as<float>(), a.shape()[1], b.data_as<float>(),
               b.shape()[1], eff_beta, out.data_as<float>(), n);
    } else {
      using Acc = std::conditional_t<is_floating_v<T>, double, compute_t<T>>;
      gemm_generic<T, Acc>(ta, tb, m, n, k, static_cast<Acc>(alpha), a.data_as<T>(), a.shape()[1],
                           b.data_as<T>(), b.shape()[1], static_cast<Acc>(eff_beta),
                           out.data_as<T>(), n);
    }
  });
  ctx.set_output(0, out);
}

void conv_f32_onednn(const OpContext& ctx, const Tensor& x, const Tensor& w, const Tensor* bias,
                     const ConvGeometry& g, Tensor& out) {
  using dt = dnnl::memory::data_type;
  const ConvDims d = conv_dims(x.shape(), w.shape(), g);
  const dnnl::memory::desc src_md = onednn::plain_f32(x.shape());
  const dnnl::memory::desc dst_md = onednn::plain_f32(out.shape());
  const dnnl::memory::desc w_md = onednn::plain_f32(Shape(d.weights.begin(), d.weights.end()));
  dnnl::memory::desc b_md({out.shape()[1]}, dt::f32, dnnl::memory::format_tag::a);
  try {
    auto desc = bias ? dnnl::convolution_forward::desc(
                           dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                           src_md, w_md, b_md, dst_md, d.strides, d.dilates, d.pad_l, d.pad_r)
                     : dnnl::convolution_forward::desc(
                           dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                           src_md, w_md, dst_md, d.strides, d.dilates, d.pad_l, d.pad_r);
    dnnl::convolution_forward::primitive_desc pd(desc, engine());
    dnnl::convolution_forward prim(pd);
    dnnl::stream stream(engine());
    dnnl::memory src(src_md, engine(), const_cast<void*>(x.data()));
    dnnl::memory wm(w_md, engine(), const_cast<void*>(w.data()));
    dnnl::memory dst(dst_md, engine(), out.data());
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
    if (bias) args[DNNL_ARG_BIAS] = dnnl::memory(b_md, engine(), const_cast<void*>(bias->data()));
    prim.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN convolution failed for input {} weights {}: {}",
             to_string(x.shape()), to_string(w.shape()), e.what());
  }
}

// Direct convolution for any float type (and the rare shapes oneDNN refuses).
template <typename T>
void conv_direct(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvGeometry& g,
                 Tensor& out) {
  const int64_t N = x.shape()[0], C = x.shape()[1], M = out.shape()[1];
  const int64_t cg = C / g.group, mg = M / g.group;
  const Shape in_sp(x.shape().begin() + 2, x.shape().end());
  const Shape out_sp(out.shape().begin() + 2, out.shape().end());
  const Shape k_sp(w.shape().begin() + 2, w.shape().end());
  const int64_t in_size = element_count(in_sp), out_size = element_count(out_sp),
                k_size = element_count(k_sp);
  // Each output position reads input positions through the window.
  const WindowMap reads{out_sp,           k_sp, in_sp, strides_of(out_sp), strides_of(k_sp),
                        strides_of(in_sp)};
  const T* px = x.data_as<T>();
  const T* pw = w.data_as<T>();
  T* po = out.data_as<T>();
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t grp = m / mg;
      for (int64_t o = 0; o < out_size; ++o) {
        double acc =
            bias ? static_cast<double>(static_cast<compute_t<T>>(bias->data_as<T>()[m])) : 0.0;
        for (int64_t c = 0; c < cg; ++c) {
          const T* xc = px + (n * C + grp * cg + c) * in_size;
          const T* wc = pw + (m * cg + c) * k_size;
          for (int64_t kk = 0; kk < k_size; ++kk) {
            const int64_t off = window_tap_offset(g, reads, o, kk);
            if (off >= 0) {
              acc += static_cast<double>(static_cast<compute_t<T>>(xc[off])) *
                     static_cast<double>(static_cast<compute_t<T>>(wc[kk]));
            }
          }
        }
        po[(n * M + m) * out_size + o] = static_cast<T>(static_cast<compute_t<T>>(acc));
      }
    }
  }
}

void op_conv(OpContext& ctx) {
  if (is_half_float(ctx.input(0))) return run_widened(ctx, op_conv);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  ctx.check(x.rank() >= 3 && w.rank() == x.rank(),
            "input {} and weights {} must be N-D (N>=3) "
            "and of the same rank",
            to_string(x.shape()), to_string(w.shape()));
  const ConvGeometry g = checked_conv_geometry(ctx, x, w);
  Tensor out(x.element_type(), g.output_shape);
  if (out.element_count() == 0) {
    ctx.set_output(0, out);
    return;
  }
  if (x.element_type() == ElementType::f32 && x.rank() <= 5) {
    conv_f32_onednn(ctx, x, w, bias, g, out);
  } else {
    dispatch_float(x.element_type(), ctx,
                   [&]<typename T>() { conv_direct<T>(x, w, bias, g, out); });
  }
  ctx.set_output(0, out);
}

void op_conv_transpose(OpContext& ctx) {
  if (is_half_float(ctx.input(0))) return run_widened(ctx, op_conv_transpose);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  ctx.check(x.rank() >= 3 && w.rank() == x.rank(), "input {} and weights {} must be N-D (N>=3)",
            to_string(x.shape()), to_string(w.shape()));
  const ConvGeometry g = conv_geometry(ctx, x.shape(), w.shape(), true);
  ctx.check(x.shape()[1] == w.shape()[0], "input has {} channels, weights {} expect {}",
            x.shape()[1], to_string(w.shape()), w.shape()[0]);
  Tensor out(x.element_type(), g.output_shape);
  const int64_t N = x.shape()[0], C = x.shape()[1], M = out.shape()[1];
  const int64_t cg = C / g.group, mg = M / g.group;
  const Shape in_sp(x.shape().begin() + 2, x.shape().end());
  const Shape out_sp(out.shape().begin() + 2, out.shape().end());
  const Shape k_sp(w.shape().begin() + 2, w.shape().end());
  const int64_t in_size = element_count(in_sp), out_size = element_count(out_sp),
                k_size = element_count(k_sp);
  // Each input position scatters into output positions through the window.
  const WindowMap writes{
      in_sp, k_sp, out_sp, strides_of(in_sp), strides_of(k_sp), strides_of(out_sp)};
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    std::vector<double> acc(static_cast<std::size_t>(out.element_count()), 0.0);
    const T* px = x.data_as<T>();
    const T* pw = w.data_as<T>();
#pragma omp parallel for collapse(2)
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t m = 0; m < M; ++m) {
        const int64_t grp = m / mg, mm = m % mg;
        double* dst = acc.data() + (n * M + m) * out_size;
        for (int64_t c = 0; c < cg; ++c) {
          const int64_t ic = grp * cg + c;
          const T* xc = px + (n * C + ic) * in_size;
          const T* wc = pw + (ic * mg + mm) * k_size;
          for (int64_t i = 0; i < in_size; ++i) {
            const double xv = static_cast<double>(static_cast<compute_t<T>>(xc[i]));
            if (xv == 0) continue;
            for (int64_t kk = 0; kk < k_size; ++kk) {
              const int64_t off = window_tap_offset(g, writes, i, kk);
              if (off >= 0) dst[off] += xv * static_cast<double>(static_cast<compute_t<T>>(wc[kk]));
            }
          }
        }
        if (bias) {
          const double b = static_cast<double>(static_cast<compute_t<T>>(bias->data_as<T>()[m]));
          for (int64_t o = 0; o < out_size; ++o) dst[o] += b;
        }
      }
    }
    T* po = out.data_as<T>();
    for (int64_t i = 0; i < out.element_count(); ++i)
      po[i] = static_cast<T>(static_cast<compute_t<T>>(acc[i]));
  });
  ctx.set_output(0, out);
}

}  // namespace

// Direct convolution in double, for the quantized ops (exact for their integer ranges).
Tensor conv_reference_f64(const OpContext& ctx, const Tensor& x, const Tensor& w,
                          const ConvGeometry& g) {
  ctx.check(x.rank() >= 3 && w.rank() == x.rank(), "input {} and weights {} must be N-D (N>=3)",
            to_string(x.shape()), to_string(w.shape()));
  Tensor out(ElementType::f64, g.output_shape);
  conv_direct<double>(x, w, nullptr, g, out);
  return out;
}

void register_nn_ops(KernelRegistry& r) {
  r.add("MatMul", op_matmul);
  r.add("Gemm", op_gemm);
  r.add("Conv", op_conv);
  r.add("ConvTranspose", op_conv_transpose);
}

}  // namespace sinter::cpu
