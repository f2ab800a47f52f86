// FusedConvTranspose (domain sinter.cpu, made by conv_fusion.cpp): a 1-D or 2-D ConvTranspose
// with constant f32 weights, its bias and its post-ops.
//
// Not oneDNN's deconvolution: in oneDNN 2.6 it is slow with post-ops (on the AVX-512 development
// machine 24 -> 24 channels, 2x2 stride 2 at 160x160: 7.7 ms alone, 89 ms with a relu post-op;
// 1 output channel at 320x320 with a sigmoid: 12 vs 118 ms), and without them still ten times
// what the arithmetic needs. Instead, per sample and group, one sgemm gives every input pixel's
// contribution to every output channel and kernel tap (W^T X: [C_out/group * taps, H * W], the
// weights read as ONNX stores them, [C_in, C_out/group, k...]); col2im adds those into the
// output, which starts as the bias; the post-ops then run in place, in order (post_op_rows.hpp).
// Tensors are plain NCHW.
#include <dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/linalg.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/post_op_rows.hpp"

namespace sinter::cpu {

namespace {

// Made once per input shape.
struct PreparedConvTranspose {
  ConvGeometry g;
  std::vector<PostOpStep> steps;
};

std::shared_ptr<const PreparedConvTranspose> prepare(const OpContext& ctx, const Tensor& x,
                                                     const Tensor& w) {
  auto p = std::make_shared<PreparedConvTranspose>();
  p->g = conv_geometry(ctx, x.shape(), w.shape(), true);
  try {
    p->steps = post_op_steps(ctx.node());
  } catch (const std::invalid_argument& e) {
    ctx.fail(ErrorCategory::invalid_model, "{}", e.what());
  }
  return p;
}

// out[oc] += the taps' contributions in cols ([out_per_group * taps, in_h * in_w] for the
// output channels oc0 .. oc0 + out_per_group), 2-D (a 1-D ConvTranspose has in_h = out_h = 1).
void col2im(const ConvGeometry& g, const float* cols, int64_t out_per_group, int64_t in_h,
            int64_t in_w, int64_t out_h, int64_t out_w, float* out) {
  const bool two_d = g.kernel.size() == 2;
  const int64_t kh_n = two_d ? g.kernel[0] : 1, kw_n = g.kernel.back();
  const int64_t sh = two_d ? g.strides[0] : 1, sw = g.strides.back();
  const int64_t dh = two_d ? g.dilations[0] : 1, dw = g.dilations.back();
  const int64_t ph = two_d ? g.pads_begin[0] : 0, pw = g.pads_begin.back();
  const int64_t taps = kh_n * kw_n;
  parallel_for(out_per_group, true, [&](int64_t oc) {
    float* dst = out + oc * out_h * out_w;
    for (int64_t kh = 0; kh < kh_n; ++kh) {
      for (int64_t kw = 0; kw < kw_n; ++kw) {
        const float* src = cols + (oc * taps + kh * kw_n + kw) * in_h * in_w;
        // Input columns iw whose output column iw * sw - pw + kw * dw lies in [0, out_w).
        const int64_t shift = kw * dw - pw;
        const int64_t iw_lo = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
        const int64_t iw_hi = std::min(in_w, out_w - shift <= 0 ? 0 : (out_w - shift - 1) / sw + 1);
        for (int64_t ih = 0; ih < in_h; ++ih) {
          const int64_t oh = ih * sh - ph + kh * dh;
          if (oh < 0 || oh >= out_h) continue;
          const float* s = src + ih * in_w;
          float* row = dst + oh * out_w;
          if (sw == 1) {
            for (int64_t iw = iw_lo; iw < iw_hi; ++iw) row[iw + shift] += s[iw];
          } else {
            for (int64_t iw = iw_lo; iw < iw_hi; ++iw) row[iw * sw + shift] += s[iw];
          }
        }
      }
    }
  });
}

void op_fused_conv_transpose(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  const Tensor* residual = ctx.optional_input(3);
  ctx.check(x.element_type() == ElementType::f32 && w.element_type() == ElementType::f32,
            "expects f32 input and weights, got {} and {}", to_string(x.element_type()),
            to_string(w.element_type()));
  ctx.check((x.rank() == 3 || x.rank() == 4) && w.rank() == x.rank(),
            "input {} and weights {} must be a 1-D or 2-D transposed convolution",
            to_string(x.shape()), to_string(w.shape()));
  ctx.check(x.shape()[1] == w.shape()[0], "input has {} channels, weights {} expect {}",
            x.shape()[1], to_string(w.shape()), w.shape()[0]);
  auto make = [&] { return prepare(ctx, x, w); };
  std::shared_ptr<const PreparedConvTranspose> p;
  p = ctx.cache() ? ctx.cache()->get_or_make<PreparedConvTranspose>(to_string(x.shape()), make)
                  : make();
  const ConvGeometry& g = p->g;
  const int64_t group = g.group, batch = x.shape()[0], in_channels = x.shape()[1];
  const int64_t in_per_group = in_channels / group, out_per_group = w.shape()[1];
  const int64_t out_channels = out_per_group * group;
  ctx.check(!bias || bias->element_count() == out_channels, "bias has {} values for {} channels",
            bias ? bias->element_count() : 0, out_channels);
  ctx.check(!residual || residual->shape() == g.output_shape, "residual {} does not match {}",
            residual ? to_string(residual->shape()) : "", to_string(g.output_shape));
  const bool two_d = x.rank() == 4;
  const int64_t in_h = two_d ? x.shape()[2] : 1, in_w = x.shape().back();
  const int64_t out_h = two_d ? g.output_shape[2] : 1, out_w = g.output_shape.back();
  const int64_t taps = element_count(Shape(w.shape().begin() + 2, w.shape().end()));
  Tensor out = Tensor::uninitialized(ElementType::f32, g.output_shape);
  float* o = out.data_as<float>();
  const int64_t plane = out_h * out_w;
  for (int64_t c = 0; c < batch * out_channels; ++c)
    std::fill_n(o + c * plane, plane, bias ? bias->data_as<float>()[c % out_channels] : 0.f);
  const int64_t rows = out_per_group * taps, pixels = in_h * in_w;
  Tensor cols_holder;
  dnnl::memory cols_memory = onednn::scratch_memory(onednn::plain_f32({rows, pixels}),
                                                    onednn::Scratch::destination, cols_holder);
  float* cols = static_cast<float*>(cols_memory.get_data_handle());
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* xg = x.data_as<float>() + (n * in_channels + gi * in_per_group) * pixels;
      const float* wg = w.data_as<float>() + gi * in_per_group * rows;
      gemm_f32(true, false, rows, pixels, in_per_group, 1.f, wg, rows, xg, pixels, 0.f, cols,
               pixels);
      col2im(g, cols, out_per_group, in_h, in_w, out_h, out_w,
             o + (n * out_channels + gi * out_per_group) * plane);
    }
  }
  const bool sums = std::any_of(p->steps.begin(), p->steps.end(), [](const PostOpStep& s) {
    return s.kind == PostOpStep::Kind::sum;
  });
  ctx.check(!sums || residual, "has a sum post-op but no residual input");
  if (!p->steps.empty()) {
    const int64_t count = out.element_count(), chunk = 4096;
#pragma omp parallel for
    for (int64_t at = 0; at < count; at += chunk)
      apply_post_ops(p->steps, o + at, std::min(chunk, count - at),
                     residual ? residual->data_as<float>() + at : nullptr);
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_fused_conv_transpose_ops(KernelRegistry& r) {
  r.add("FusedConvTranspose", op_fused_conv_transpose, kCpuDomain);
}

}  // namespace sinter::cpu
