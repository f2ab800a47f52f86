// Window geometry for the CPU kernels: the shared formulas of ir/window_geometry.hpp, plus the
// tap-offset walk that Conv's direct loop, ConvTranspose and pooling share.
#pragma once

#include <cstddef>
#include <vector>

#include "devices/cpu/op_context.hpp"
#include "ir/window_geometry.hpp"

namespace sinter::cpu {

using ConvGeometry = ir::WindowGeometry;

inline ConvGeometry conv_geometry(const OpContext& ctx, const Shape& x, const Shape& w,
                                  bool transposed) {
  return ir::conv_window(ctx.node(), x, w, transposed);
}
// Conv's geometry, after checking that the weights' channels and groups fit the input.
inline ConvGeometry checked_conv_geometry(const OpContext& ctx, const Tensor& x, const Tensor& w) {
  const ConvGeometry g = conv_geometry(ctx, x.shape(), w.shape(), false);
  ctx.check(x.shape()[1] == w.shape()[1] * g.group,
            "input has {} channels, weights {} expect {} (group={})", x.shape()[1],
            to_string(w.shape()), w.shape()[1] * g.group, g.group);
  ctx.check(w.shape()[0] % g.group == 0, "output channels {} not divisible by group {}",
            w.shape()[0], g.group);
  return g;
}
// The right padding oneDNN wants along one axis of a window: the one that gives exactly
// `output` positions (ONNX's may be larger, or implied by ceil_mode).
inline int64_t onednn_right_padding(const ir::WindowGeometry& g, std::size_t axis,
                                    int64_t input_size) {
  return (g.output_shape[2 + axis] - 1) * g.strides[axis] +
         (g.kernel[axis] - 1) * g.dilations[axis] + 1 - input_size - g.pads_begin[axis];
}
inline ConvGeometry pool_geometry(const OpContext& ctx, const Shape& x) {
  return ir::pool_window(ctx.node(), x);
}

// The spatial positions and strides one window tap connects: Conv reads input position
// `to` = from * stride - pad + k * dilation for output position `from`; ConvTranspose writes
// output position `to` for input position `from` by the same formula.
struct WindowMap {
  Shape from_shape, kernel_shape, to_shape;
  std::vector<int64_t> from_strides, kernel_strides, to_strides;
};

// Row-major offset in `to_shape` of tap `kk` (flat kernel index) of the window at flat position
// `from`; -1 when the tap falls outside (padding).
inline int64_t window_tap_offset(const ConvGeometry& g, const WindowMap& m, int64_t from,
                                 int64_t kk) {
  int64_t off = 0;
  for (std::size_t d = 0; d < m.to_shape.size(); ++d) {
    const int64_t fd = (from / m.from_strides[d]) % m.from_shape[d];
    const int64_t kd = (kk / m.kernel_strides[d]) % m.kernel_shape[d];
    const int64_t td = fd * g.strides[d] - g.pads_begin[d] + kd * g.dilations[d];
    if (td < 0 || td >= m.to_shape[d]) return -1;
    off += td * m.to_strides[d];
  }
  return off;
}

}  // namespace sinter::cpu
