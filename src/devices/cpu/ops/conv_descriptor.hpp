// A Conv in oneDNN's terms (dims, strides, dilations counted from 0, right paddings that give
// exactly the output size), and the primitive descriptor oneDNN makes of it. Shared by the
// FusedConv kernel, which makes the primitive per input shape, and by the compile-time choice of
// the convolution algorithm (winograd_marking), which asks oneDNN what it would run.
#pragma once

#include <dnnl.hpp>

#include "devices/cpu/ops/conv_geometry.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu {

struct ConvDims {
  dnnl::memory::dims src, dst, weights, bias, strides, dilates, pad_l, pad_r;
};

// For input shape x, weights shape w and their geometry (grouped weights get oneDNN's extra
// group dimension).
ConvDims conv_dims(const Shape& x, const Shape& w, const ConvGeometry& g);

// oneDNN's primitive descriptor for the convolution, the layouts of input, weights and output
// left to it (format any), the bias f32; throws dnnl::error where it has no kernel.
dnnl::convolution_forward::primitive_desc conv_primitive_desc(const ConvDims& dims,
                                                              dnnl::algorithm algorithm,
                                                              dnnl::memory::data_type compute,
                                                              dnnl::memory::data_type dst_type,
                                                              const dnnl::primitive_attr& attr);

// Whether an f32 convolution is better computed with Winograd's minimal filtering (oneDNN's
// F(2x2,3x3) or F(4x4,3x3) kernels) than directly on this CPU; see conv_descriptor.cpp.
bool winograd_pays(const ConvDims& dims, const ConvGeometry& g, const dnnl::primitive_attr& attr);

}  // namespace sinter::cpu
