#include "devices/cpu/ops/depthwise_direct.hpp"

#include <algorithm>

#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"

namespace sinter::cpu {

bool prefers_direct_depthwise(const ir::Node& node, const ConvDims& dims,
                              const std::string& onednn_impl) {
  const std::size_t spatial = dims.src.size() - 2;
  if (spatial < 1 || spatial > 2 || onednn_impl.find("gemm") == std::string::npos) return false;
  for (const char* flag : {"compute_bf16", "src_bf16", "dst_bf16", "winograd"})
    if (node.attr_int(flag, 0)) return false;
  for (const char* layout : {"src_layout", "dst_layout", "residual_layout"})
    if (!node.attr_string(layout, "").empty()) return false;
  // Grouped weights are [groups, out per group, in per group, kernel...].
  const int64_t channels = dims.src[1];
  return dims.weights.size() == spatial + 3 && dims.weights[0] == channels &&
         dims.weights[1] == 1 && dims.weights[2] == 1 && dims.dst[1] == channels;
}

void depthwise_conv_plain(const ConvGeometry& g, const Shape& x_shape, const float* x,
                          const float* w, const float* bias, const float* residual,
                          const std::vector<PostOpStep>& steps, float* y) {
  const bool two_d = x_shape.size() == 4;
  const int64_t batch = x_shape[0], channels = x_shape[1];
  const int64_t H = two_d ? x_shape[2] : 1, W = x_shape.back();
  const int64_t OH = two_d ? g.output_shape[2] : 1, OW = g.output_shape.back();
  const int64_t KH = two_d ? g.kernel[0] : 1, KW = g.kernel.back();
  const int64_t sh = two_d ? g.strides[0] : 1, sw = g.strides.back();
  const int64_t dh = two_d ? g.dilations[0] : 1, dw = g.dilations.back();
  const int64_t ph = two_d ? g.pads_begin[0] : 0, pw = g.pads_begin.back();
  // Per tap column kx: the output columns whose input column ox * sw - pw + kx * dw is inside.
  std::vector<int64_t> first(KW), last(KW);
  for (int64_t kx = 0; kx < KW; ++kx) {
    const int64_t shift = kx * dw - pw;
    int64_t lo = 0;
    while (lo < OW && lo * sw + shift < 0) ++lo;
    int64_t hi = OW;
    while (hi > lo && (hi - 1) * sw + shift >= W) --hi;
    first[kx] = lo, last[kx] = hi;
  }
  parallel_for(batch * channels, true, [&](int64_t plane) {
    const int64_t c = plane % channels;
    const float* xp = x + plane * H * W;
    const float* wc = w + c * KH * KW;
    float* yp = y + plane * OH * OW;
    std::fill_n(yp, OH * OW, bias ? bias[c] : 0.f);
    for (int64_t oy = 0; oy < OH; ++oy) {
      float* row = yp + oy * OW;
      for (int64_t ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * sh - ph + ky * dh;
        if (iy < 0 || iy >= H) continue;
        const float* in = xp + iy * W;
        vec::depthwise_row(in, wc + ky * KW, KW, sw, dw, pw, first.data(), last.data(), row);
      }
    }
    apply_post_ops(steps, yp, OH * OW, residual ? residual + plane * OH * OW : nullptr);
  });
}

}  // namespace sinter::cpu
