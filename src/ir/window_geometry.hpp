// Window geometry shared by Conv, ConvTranspose and the pooling ops: strides, dilations, pads
// (explicit or auto_pad) and the output shape, following the ONNX spec's formulas. The CPU
// kernels and static shape inference both use it, so they cannot disagree.
//
//   const ir::WindowGeometry g = ir::conv_window(node, x_shape, w_shape, /*transposed=*/false);
//   // g.output_shape, g.pads_begin, ...
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.hpp"

namespace sinter::ir {

struct WindowGeometry {
  int64_t group = 1;
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
  Shape output_shape;
};

// Conv / ConvTranspose: the kernel comes from the weights' shape (or kernel_shape). Shapes must
// be fully known; inconsistent attributes raise invalid_argument naming the node.
WindowGeometry conv_window(const Node& node, const Shape& x, const Shape& w, bool transposed);
// Pooling: kernel_shape attribute, ceil_mode, output channels = input channels.
WindowGeometry pool_window(const Node& node, const Shape& x);

}  // namespace sinter::ir
