// A Conv in oneDNN's terms (dims, strides, dilations counted from 0, right paddings that give
// exactly the output size), and the primitive descriptor oneDNN makes of it. Shared by the
// FusedConv kernel, which makes the primitive per input shape, and by the compile-time choice of
// the convolution algorithm (winograd_marking), which asks oneDNN what it would run.
#pragma once

#include <dnnl.hpp>

#include <optional>
#include <string>
#include <vector>

#include "devices/cpu/ops/conv_geometry.hpp"
#include "ir/graph.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu {

struct ConvDims {
  dnnl::memory::dims src, dst, weights, bias, strides, dilates, pad_l, pad_r;
};

struct RowBands;  // conv_row_bands.hpp

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

// The primitive descriptor a FusedConv node's kernel makes for these dims: its precision
// attributes (compute_bf16, dst_bf16), its post-ops, Winograd where marked (direct where oneDNN
// then has none). Shared by the kernel and the compile-time checks (reference_guard.cpp), so
// both see the same kernel. Throws dnnl::error, or std::invalid_argument for bad post-ops.
dnnl::convolution_forward::primitive_desc fused_conv_primitive_desc(const ir::Node& node,
                                                                    const ConvDims& dims);

// Where a Winograd-marked FusedConv of these dims is computed in bands of rows
// (conv_row_bands.hpp): the bands, and the primitive descriptor they all run. Nothing where the
// node is not Winograd, the image is one band, or oneDNN has no Winograd kernel for the band.
// What fused_conv_primitive_desc gives then.
std::optional<dnnl::convolution_forward::primitive_desc> fused_conv_band_desc(const ir::Node& node,
                                                                              const ConvDims& dims,
                                                                              RowBands& bands);

// The same for a FusedMatMul of m rows: A [m, k] (bf16 per compute_bf16), weights [k, n] in
// the layout oneDNN picks, optional bias [1, n], result in f32 or bf16 (dst_bf16).
dnnl::matmul::primitive_desc fused_matmul_primitive_desc(const ir::Node& node, int64_t m, int64_t k,
                                                         int64_t n, bool bias);

// DynamicQuantConv's integer convolution: u8 input (channels-last, a runtime zero point), s8
// weights in oneDNN's layout, int32 accumulators (channels-last), no post-ops.
dnnl::convolution_forward::primitive_desc int8_conv_primitive_desc(const ConvDims& dims);

// A DynamicQuantConv with a fixed input scale (a QDQ layer; attribute input_scale), no
// correction (int8 weights with zero points 0) and no integer bias, as one oneDNN int8
// primitive: u8 input (channels-last, a runtime zero point), s8 weights, f32 output
// (channels-last) scaled per channel by input_scale * scales, the bias and then the node's
// post-ops. `fused_bias` gets the bias in accumulator units (oneDNN 2.x adds it before
// scaling). Nothing where the node is of another kind, the CPU has no exact int8 products or
// oneDNN only its reference kernel for it. Shared by the kernel and the placement.
std::optional<dnnl::convolution_forward::primitive_desc> fused_int8_conv_primitive_desc(
    const ir::Node& node, const ConvDims& dims, const Tensor& scales, const Tensor& bias,
    const Tensor& correction, std::vector<float>& fused_bias);

// DynamicQuantMatMul's product: u8 [m, k] (no zero point: the kernel corrects for it) times s8
// weights [k, n] in oneDNN's layout into int32 [m, n] (`int8` set); where oneDNN has only its
// reference kernel or none for that, an f32 product of (q - zero point) with the corrected
// weights (`int8` cleared). The kernel and the compile-time placement both ask this.
dnnl::matmul::primitive_desc quant_matmul_primitive_desc(int64_t m, int64_t k, int64_t n,
                                                         bool& int8);

// DynamicQuantConv's f32 fallback (CPUs without exact int8 products): an f32 convolution of
// (q - zero point) with the corrected weights. With `fused_post_ops`, the per-channel scale and
// bias as binary post-ops (given per run) and then the node's post-ops; where oneDNN has only its
// reference kernel for those (AVX2: eltwise then sum), `fused_post_ops` is set false and the
// descriptor is a plain one with a channels-last output, for an epilogue of the node's own.
dnnl::convolution_forward::primitive_desc quant_conv_f32_primitive_desc(const ir::Node& node,
                                                                        const ConvDims& dims,
                                                                        bool& fused_post_ops);

// Whether oneDNN picked its reference implementation (named "ref..."): correct but one or two
// orders of magnitude slower than its JIT kernels.
bool is_reference(const std::string& impl_info);

// Whether an f32 convolution is better computed with Winograd's minimal filtering (oneDNN's
// F(2x2,3x3) or F(4x4,3x3) kernels) than directly on this CPU; see conv_descriptor.cpp.
bool winograd_pays(const ConvDims& dims, const ConvGeometry& g, const dnnl::primitive_attr& attr);

// Whether such a convolution (one winograd_pays) is also faster with Winograd in f32 than direct
// in bf16 on this CPU (--precision bf16): large layers where the CPU has no AMX.
bool winograd_beats_bf16(const ConvDims& dims);

}  // namespace sinter::cpu
