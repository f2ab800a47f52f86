// Resize's arithmetic shared by the plain kernel (ops_image.cpp) and the channels-last one
// (ops_channels_last.cpp): what the node's attributes and inputs ask for, and for each output
// index of an axis the input indices it reads and their weights (every mode and coordinate
// transformation of ONNX).
#pragma once

#include <string>
#include <vector>

#include "devices/cpu/op_context.hpp"

namespace sinter::cpu {

struct Tap {
  int64_t index;
  double weight;
};

struct ResizeParams {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double cubic_a = -0.75, extrapolation = 0;
  bool exclude_outside = false;
};

// Per output index of one axis: the input taps and weights (empty = extrapolate).
std::vector<std::vector<Tap>> axis_taps(const ResizeParams& p, int64_t in, int64_t out,
                                        double scale, double roi_start, double roi_end);

struct ResizePlan {
  ResizeParams params;
  std::vector<double> scales, roi;
  Shape out_shape;
};

// A Resize node's parameters, scales and output shape for input x (roi, scales and sizes from
// its inputs at ONNX opset 11 and later, scales alone before); errors name the node.
ResizePlan plan_resize(const OpContext& ctx, const Tensor& x, int64_t onnx_opset);

}  // namespace sinter::cpu
