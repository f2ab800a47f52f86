#include "devices/cpu/ops/conv_descriptor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <string>

#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_row_bands.hpp"

namespace sinter::cpu {

ConvDims conv_dims(const Shape& x, const Shape& w, const ConvGeometry& g) {
  const std::size_t spatial = x.size() - 2;
  ConvDims d;
  d.src.assign(x.begin(), x.end());
  d.dst.assign(g.output_shape.begin(), g.output_shape.end());
  if (g.group > 1) {
    d.weights = {g.group, w[0] / g.group};
    d.weights.insert(d.weights.end(), w.begin() + 1, w.end());
  } else {
    d.weights.assign(w.begin(), w.end());
  }
  d.bias = {w[0]};
  d.strides.assign(g.strides.begin(), g.strides.end());
  d.pad_l.assign(g.pads_begin.begin(), g.pads_begin.end());
  d.dilates.resize(spatial);
  d.pad_r.resize(spatial);
  for (std::size_t i = 0; i < spatial; ++i) {
    d.dilates[i] = g.dilations[i] - 1;
    d.pad_r[i] = onednn_right_padding(g, i, x[2 + i]);
  }
  return d;
}

dnnl::convolution_forward::primitive_desc conv_primitive_desc(const ConvDims& d,
                                                              dnnl::algorithm algorithm,
                                                              dnnl::memory::data_type compute,
                                                              dnnl::memory::data_type dst_type,
                                                              const dnnl::primitive_attr& attr) {
  using tag = dnnl::memory::format_tag;
  const dnnl::memory::desc src(d.src, compute, tag::any), dst(d.dst, dst_type, tag::any),
      weights(d.weights, compute, tag::any), bias(d.bias, dnnl::memory::data_type::f32, tag::a);
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src,
                                             weights, bias, dst, d.strides, d.dilates, d.pad_l,
                                             d.pad_r);
  return dnnl::convolution_forward::primitive_desc(desc, attr, onednn::engine());
}

std::optional<dnnl::convolution_forward::primitive_desc> fused_conv_band_desc(const ir::Node& node,
                                                                              const ConvDims& dims,
                                                                              RowBands& bands) {
  if (!node.attr_int("winograd", 0) || node.attr_int("compute_bf16", 0) || dims.src.size() != 4)
    return std::nullopt;
  bands = row_bands(dims, winograd_band_rows(dims));
  if (bands.bands.size() < 2) return std::nullopt;
  using dt = dnnl::memory::data_type;
  try {
    return conv_primitive_desc(bands.shape, dnnl::algorithm::convolution_winograd, dt::f32,
                               node.attr_int("dst_bf16", 0) ? dt::bf16 : dt::f32,
                               onednn::fused_node_attr(node));
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
}

dnnl::convolution_forward::primitive_desc fused_conv_primitive_desc(const ir::Node& node,
                                                                    const ConvDims& dims) {
  RowBands bands;
  if (auto banded = fused_conv_band_desc(node, dims, bands)) return *banded;
  using dt = dnnl::memory::data_type;
  const dt compute = node.attr_int("compute_bf16", 0) ? dt::bf16 : dt::f32;
  const dt dst_type = node.attr_int("dst_bf16", 0) ? dt::bf16 : dt::f32;
  const dnnl::primitive_attr attr = onednn::fused_node_attr(node);
  if (node.attr_int("winograd", 0) && compute == dt::f32) {
    try {
      return conv_primitive_desc(dims, dnnl::algorithm::convolution_winograd, compute, dst_type,
                                 attr);
    } catch (const dnnl::error&) {
      // the direct kernel below
    }
  }
  return conv_primitive_desc(dims, dnnl::algorithm::convolution_direct, compute, dst_type, attr);
}

dnnl::matmul::primitive_desc fused_matmul_primitive_desc(const ir::Node& node, int64_t m, int64_t k,
                                                         int64_t n, bool bias) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const dt compute = node.attr_int("compute_bf16", 0) ? dt::bf16 : dt::f32;
  const dt dst_type = node.attr_int("dst_bf16", 0) ? dt::bf16 : dt::f32;
  const dnnl::memory::desc src({m, k}, compute, tag::ab), dst({m, n}, dst_type, tag::ab),
      weights({k, n}, compute, tag::any), bias_md({1, n}, dt::f32, tag::ab);
  const dnnl::matmul::desc desc =
      bias ? dnnl::matmul::desc(src, weights, bias_md, dst) : dnnl::matmul::desc(src, weights, dst);
  return dnnl::matmul::primitive_desc(desc, onednn::fused_node_attr(node), onednn::engine());
}

namespace {

dnnl::matmul::primitive_desc plain_matmul_primitive_desc(int64_t m, int64_t k, int64_t n,
                                                         dnnl::memory::data_type src,
                                                         dnnl::memory::data_type weights,
                                                         dnnl::memory::data_type dst) {
  using tag = dnnl::memory::format_tag;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::desc desc({{m, k}, src, tag::ab}, {{k, n}, weights, tag::any},
                                {{m, n}, dst, tag::ab});
  return dnnl::matmul::primitive_desc(desc, attr, onednn::engine());
}

}  // namespace

dnnl::matmul::primitive_desc quant_matmul_primitive_desc(int64_t m, int64_t k, int64_t n,
                                                         bool& int8) {
  using dt = dnnl::memory::data_type;
  try {
    auto pd = plain_matmul_primitive_desc(m, k, n, dt::u8, dt::s8, dt::s32);
    int8 = !is_reference(pd.impl_info_str());
    if (int8) return pd;
  } catch (const dnnl::error&) {
    int8 = false;
  }
  return plain_matmul_primitive_desc(m, k, n, dt::f32, dt::f32, dt::f32);
}

dnnl::convolution_forward::primitive_desc int8_conv_primitive_desc(const ConvDims& dims) {
  using dt = dnnl::memory::data_type;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
      onednn::activation(dims.src, onednn::kChannelsLast, dt::u8),
      {dims.weights, dt::s8, dnnl::memory::format_tag::any},
      onednn::activation(dims.dst, onednn::kChannelsLast, dt::s32), dims.strides, dims.dilates,
      dims.pad_l, dims.pad_r);
  return dnnl::convolution_forward::primitive_desc(desc, attr, onednn::engine());
}

std::optional<dnnl::convolution_forward::primitive_desc> fused_int8_conv_primitive_desc(
    const ir::Node& node, const ConvDims& dims, const Tensor& scales, const Tensor& bias,
    const Tensor& correction, std::vector<float>& fused_bias) {
  using dt = dnnl::memory::data_type;
  if (!node.find("input_scale") || node.attr_int("integer_bias", 0) ||
      !onednn::exact_int8_products())
    return std::nullopt;
  const int64_t channels = scales.element_count();
  if (bias.element_count() != channels || correction.element_count() != channels)
    return std::nullopt;
  for (int64_t c = 0; c < channels; ++c)
    if (correction.data_as<float>()[c] != 0) return std::nullopt;
  const float input_scale = node.attr_float("input_scale", 0.f);
  std::vector<float> output_scales(static_cast<std::size_t>(channels));
  fused_bias.assign(output_scales.size(), 0.f);
  for (int64_t c = 0; c < channels; ++c) {
    output_scales[c] = input_scale * scales.data_as<float>()[c];
    if (output_scales[c] == 0 || !std::isfinite(output_scales[c])) return std::nullopt;
    fused_bias[c] = bias.data_as<float>()[c] / output_scales[c];
  }
  try {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    attr.set_output_scales(1 << 1, output_scales);  // along the output channels
    attr.set_post_ops(onednn::post_ops_of(node));
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        onednn::activation(dims.src, onednn::kChannelsLast, dt::u8),
        {dims.weights, dt::s8, dnnl::memory::format_tag::any},
        {dims.bias, dt::f32, dnnl::memory::format_tag::x},
        onednn::activation(dims.dst, onednn::kChannelsLast, dt::f32), dims.strides, dims.dilates,
        dims.pad_l, dims.pad_r);
    dnnl::convolution_forward::primitive_desc pd(desc, attr, onednn::engine());
    if (!is_reference(pd.impl_info_str())) return pd;
  } catch (const dnnl::error&) {
  } catch (const std::invalid_argument&) {  // post-ops oneDNN cannot express
  }
  return std::nullopt;
}

dnnl::convolution_forward::primitive_desc quant_conv_f32_primitive_desc(const ir::Node& node,
                                                                        const ConvDims& dims,
                                                                        bool& fused_post_ops) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  Shape channel(dims.dst.size(), 1);
  channel[1] = dims.dst[1];
  const dnnl::memory::desc channel_md = onednn::plain_f32(channel);
  dnnl::post_ops ops;
  ops.append_binary(dnnl::algorithm::binary_mul, channel_md);
  ops.append_binary(dnnl::algorithm::binary_add, channel_md);
  const dnnl::post_ops node_ops = onednn::post_ops_of(node);
  for (int i = 0; i < node_ops.len(); ++i) {
    if (node_ops.kind(i) == dnnl::primitive::kind::sum) {
      ops.append_sum(1.f);
      continue;
    }
    float scale = 1, alpha = 0, beta = 0;
    dnnl::algorithm alg;
    node_ops.get_params_eltwise(i, scale, alg, alpha, beta);
    ops.append_eltwise(scale, alg, alpha, beta);
  }
  // Two attributes, not a copy: dnnl::primitive_attr is a handle, its copies share one object.
  dnnl::primitive_attr attr, fused;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  fused.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  fused.set_post_ops(ops);
  const dnnl::convolution_forward::desc any_layout(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
      {dims.src, dt::f32, tag::any}, {dims.weights, dt::f32, tag::any},
      {dims.dst, dt::f32, tag::any}, dims.strides, dims.dilates, dims.pad_l, dims.pad_r);
  try {
    dnnl::convolution_forward::primitive_desc pd(any_layout, fused, onednn::engine());
    if (!is_reference(pd.impl_info_str())) {
      fused_post_ops = true;
      return pd;
    }
  } catch (const dnnl::error&) {
  }
  fused_post_ops = false;
  const dnnl::convolution_forward::desc plain(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
      onednn::activation(dims.src, onednn::kChannelsLast, dt::f32),
      {dims.weights, dt::f32, tag::any},
      onednn::activation(dims.dst, onednn::kChannelsLast, dt::f32), dims.strides, dims.dilates,
      dims.pad_l, dims.pad_r);
  return dnnl::convolution_forward::primitive_desc(plain, attr, onednn::engine());
}

bool is_reference(const std::string& impl_info) {
  return impl_info.rfind("ref", 0) == 0;
}

// Winograd's minimal filtering needs fewer multiplications for 3x3 stride-1 windows, at the cost
// of transforming the tiles, of reordering to and from the blocked layout its kernels compute in
// and of weights stored 16/9 (F(2x2,3x3)) or 36/9 (F(4x4,3x3)) as large, read again from memory
// on every run. Measured on this project's AVX-512 Zen 5 machine with the caches flushed between
// runs (as in a model, where other layers' weights pass through in between): 64 to 512 channels
// in and out took 0.55-0.8 of the direct kernel's time (ResNet-50's 3x3 layers, the VAE decoder's
// at 32x32 to 128x128), 24 to 40 channels 1.3-1.7 (the transforms dominate). F(4x4,3x3) under
// 512 output pixels lost to its weights (128 channels at 16x16: 354 vs 308 us; at 28x28 546 vs
// 719), which is why oneDNN's pick between the two is asked. Results differ from the direct sum
// by rounding (~2e-6 of the largest output). SINTER_CPU_WINOGRAD=0 turns it off.
bool winograd_pays(const ConvDims& d, const ConvGeometry& g, const dnnl::primitive_attr& attr) {
  constexpr int64_t kMinChannels = 64;
  constexpr int64_t kMinPixelsForLargeTiles = 512;
  constexpr std::size_t kMaxScratchBytes = std::size_t{128} << 20;
  constexpr std::size_t kMaxTransformedWeightBytes = std::size_t{16} << 20;
  static const bool enabled = [] {
    const char* env = std::getenv("SINTER_CPU_WINOGRAD");
    return !(env && std::string(env) == "0");
  }();
  if (!enabled || g.group != 1 || g.kernel.size() != 2) return false;
  for (std::size_t i = 0; i < 2; ++i)
    if (g.kernel[i] != 3 || g.strides[i] != 1 || g.dilations[i] != 1) return false;
  if (d.src[1] < kMinChannels || d.dst[1] < kMinChannels) return false;
  // Large images are computed in bands of rows (conv_row_bands.hpp), all of one shape.
  const RowBands bands = row_bands(d, winograd_band_rows(d));
  const ConvDims& computed = bands.bands.size() > 1 ? bands.shape : d;
  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  try {
    pd = conv_primitive_desc(computed, dnnl::algorithm::convolution_winograd,
                             dnnl::memory::data_type::f32, dnnl::memory::data_type::f32, attr);
  } catch (const dnnl::error&) {
    return false;  // no Winograd kernel for this CPU, these shapes or these post-ops
  }
  const bool large_tiles = std::string(pd->impl_info_str()).find("4x3") != std::string::npos;
  if (large_tiles && d.dst[2] * d.dst[3] < kMinPixelsForLargeTiles) return false;
  // The transformed tiles live in the scratchpad, the staging copies in nChw16c beside it: both
  // come from the inference's arena (onednn::scratch_memory with a holder), so no run faults
  // fresh pages in for them, but they add to the peak. A band's scratchpad is 24-51 MiB for SD's
  // VAE decoder; the limit keeps a very wide image (whose band is still 4 rows of many columns)
  // direct.
  // The transformed weights replace the plain ones for good (4x their size for 4x3 tiles,
  // 16/9 for 2x3) and transforming them makes the first run slow (oneDNN's weight transform
  // is scalar: about 12 s for SD 1.5's UNet on 2 Zen 4 cores). That pays where the layer's
  // input is larger than its weights (high resolution, few channels), not in deep layers whose
  // large weights dwarf their small images: SD 1.5's UNet held 1.2 GiB more and its first step
  // took 25 s instead of 12 with them, for no measurable gain per step (7.4-8.0 s both ways, with
  // whole-image tiles). The time a layer saves grows with its pixels, the memory it costs with
  // its weights: up to 3x the input's size admits the UNet's 640-channel upsampling convolution
  // at 64x64 (155 -> 55 ms for 44 MiB more on 2 Zen 5 cores), not its 1280-channel layers at
  // 32x32 and 16x16 (2-2.5x faster too, but 4x their 1 GiB of weights).
  const std::size_t src_bytes = static_cast<std::size_t>(
      std::accumulate(d.src.begin(), d.src.end(), int64_t{1}, std::multiplies<>()) * 4);
  const std::size_t transformed = pd->weights_desc().get_size();
  if (transformed > kMaxTransformedWeightBytes && transformed > 3 * src_bytes) return false;
  return pd->scratchpad_desc().get_size() <= kMaxScratchBytes;
}

// Measured on 2 Zen 5 cores (AVX512_BF16, no AMX), Winograd F(4x4,3x3) in f32 against the
// direct bf16 kernel alone, caches flushed between runs: 512 channels at 64x64 0.57, 256 at
// 32x256 0.79, 320 and 640 at 2x64x64 0.73-0.77, 128 at 16x512 1.01, 64 at 128x128 0.95;
// ResNet-50's layers (64-512 channels, 56x56 to 7x7) 1.27-1.53. In SD's VAE decoder, where the
// bf16 kernel's input is converted first, Winograd won the 128-channel layers at 512x512 too
// (256 -> 128 channels: 168 against 216 ms). AMX multiplies bf16 tiles several times faster
// again, so there the bf16 kernel wins.
bool winograd_beats_bf16(const ConvDims& d) {
  constexpr int64_t kMinPixels = 4096;
  static const bool amx = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core_amx;
  return !amx && d.dst[0] * d.dst[2] * d.dst[3] >= kMinPixels;
}

}  // namespace sinter::cpu
