// Window geometry shared by Conv, ConvTranspose and the pooling ops: strides, dilations, pads
// (explicit or auto_pad) and the output shape, following the ONNX spec's formulas.
#pragma once

#include <vector>

#include "devices/cpu/op_context.hpp"

namespace sinter::cpu {

struct ConvGeometry {
  int64_t group = 1;
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
  Shape output_shape;
};

// Conv / ConvTranspose: the kernel comes from the weights' shape (or kernel_shape).
ConvGeometry conv_geometry(const OpContext& ctx, const Shape& x, const Shape& w, bool transposed);
// Pooling: kernel_shape attribute, ceil_mode, output channels = input channels.
ConvGeometry pool_geometry(const OpContext& ctx, const Shape& x);

}  // namespace sinter::cpu
