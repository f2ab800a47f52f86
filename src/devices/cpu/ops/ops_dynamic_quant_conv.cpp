// DynamicQuantConv (domain sinter.cpu, made by fuse_dynamic_quant_convs): ONNX Runtime's
// dynamically quantized Conv in one node. Inputs: x (f32, plain or in the convolutions' kept
// layout), w (s8: the model's weights less 128 for uint8 ones), scales (f32 [C_out]: the
// weights' scale per output channel), bias (f32 [C_out]), correction (f32 [C_out], integral:
// what the weights lack of wq - wz, 128 - wz for uint8 ones), residual (optional, for a sum
// post-op). Per run:
//   1. x's range and the uint8 scale and zero point DynamicQuantizeLinear would give
//      (dynamic_quant.hpp), and x quantized with them (q), channels-last;
//   2. a oneDNN int8 convolution (u8 input with a runtime zero point, s8 weights) into int32
//      accumulators, with no post-ops: oneDNN 2.6's brgemm kernels take none of the binary
//      post-ops the per-run scale would need, and its other int8 kernels with them ran slower
//      than f32 (a 64-channel 3x3 layer at 512x512 on AVX-512 VNNI: 14 ms brgemm int8, 121 ms
//      jit int8 with binary post-ops, 53 ms f32);
//   3. one epilogue pass per output pixel: acc + correction[c] * (window sum of q - zero point)
//      in integers (ConvInteger's exact result), times scale(x) * scales[c], plus bias[c]
//      (the Cast, Mul and Add that follow ConvInteger in the model), then the node's post-ops.
// Where oneDNN has no exact int8 kernel for this CPU (no VNNI: its int8 products saturate in
// int16; or only its reference kernel), the same arithmetic runs as an f32 convolution of (q - zero
// point) with the weights wq - wz as floats (small integers: exact in f32 up to 2^24), scaled and
// shifted by binary post-ops, then the node's; where oneDNN has those fused only in its reference
// kernel (AVX2: an eltwise before the sum; 100 s instead of 3 s for IS-Net), the f32
// convolution runs bare into channels-last floats and step 3 does the rest.
#include <dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_descriptor.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/dynamic_quant.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/post_op_rows.hpp"

namespace sinter::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using onednn::engine;

// Made once per input shape.
struct PreparedQuantConv {
  dnnl::convolution_forward primitive;
  bool int8 = true;           // false: the f32 convolution of (q - zero point), post-ops in oneDNN
  bool f32_epilogue = false;  // f32 without oneDNN post-ops (only its reference kernel takes
                              // them): the int8 path's epilogue on its channels-last floats
  // A fixed input scale (QDQ) and no correction: the int8 primitive scales, adds the bias and
  // runs the post-ops itself, straight into f32 (no accumulators, no epilogue).
  bool fused_int8 = false;
  std::vector<float> fused_bias;  // bias / output scale: oneDNN 2.x adds it before scaling
  bool correct = false;           // some correction is not zero
  ConvGeometry geometry;
  // int8: q channels-last (u8) and the accumulators channels-last (s32); the node's input,
  // output and residual layouts, and the reorders between them where they differ.
  dnnl::memory::desc quantized_in, src_md, acc_md, dst_last, dst_out, residual_in, residual_last,
      scratchpad_md, channel_md;
  std::optional<dnnl::reorder> src_reorder, dst_reorder, residual_reorder;
  dnnl::memory weights;
  std::vector<PostOpStep> steps;
  Shape output_shape;
};

dnnl::memory::desc channels_last(const dnnl::memory::dims& dims, dt type) {
  return onednn::activation(dims, onednn::kChannelsLast, type);
}

std::optional<dnnl::reorder> reorder_if_needed(const dnnl::memory::desc& from,
                                               const dnnl::memory::desc& to) {
  if (from == to) return std::nullopt;
  return dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), to));
}

std::shared_ptr<const PreparedQuantConv> prepare(const OpContext& ctx, const Tensor& x,
                                                 const Tensor& w, const Tensor& scales,
                                                 const Tensor& bias, const Tensor& correction) {
  const ConvGeometry g = checked_conv_geometry(ctx, x, w);
  const ConvDims dims = conv_dims(x.shape(), w.shape(), g);
  auto p = std::make_shared<PreparedQuantConv>();
  p->geometry = g;
  p->output_shape = g.output_shape;
  try {
    p->steps = post_op_steps(ctx.node());
  } catch (const std::invalid_argument& e) {
    ctx.fail(ErrorCategory::invalid_model, "{}", e.what());
  }
  const std::string src_layout = ctx.attr_s("src_layout", "");
  const dnnl::memory::desc x_in = onednn::activation(dims.src, src_layout);
  p->dst_out = onednn::activation(dims.dst, ctx.attr_s("dst_layout", ""));
  p->residual_in = onednn::activation(dims.dst, ctx.attr_s("residual_layout", ""));
  const std::size_t out_elements = static_cast<std::size_t>(element_count(g.output_shape));
  ctx.check(x_in.get_size() == x.byte_size() && p->dst_out.get_size() == out_elements * 4,
            "layout attributes do not fit the tensors of input {}", to_string(x.shape()));
  Shape channel(dims.dst.size(), 1);
  channel[1] = dims.dst[1];
  p->channel_md = onednn::plain_f32(channel);
  const float* d = correction.data_as<float>();
  const int64_t channels = correction.element_count();
  for (int64_t c = 0; c < channels; ++c) p->correct = p->correct || d[c] != 0;
  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  pd = fused_int8_conv_primitive_desc(ctx.node(), dims, scales, bias, correction, p->fused_bias);
  p->fused_int8 = pd.has_value();
  // Without VNNI oneDNN's int8 products saturate (onednn_util.hpp): those CPUs compute in f32
  // (exactly, but slower).
  if (!pd && onednn::exact_int8_products()) {
    try {
      pd = int8_conv_primitive_desc(dims);
      if (is_reference(pd->impl_info_str())) pd.reset();
    } catch (const dnnl::error&) {
      pd.reset();
    }
  }
  p->int8 = pd.has_value();
  if (!pd) {
    try {
      bool fused = false;
      pd = quant_conv_f32_primitive_desc(ctx.node(), dims, fused);
      p->f32_epilogue = !fused;
    } catch (const std::invalid_argument& e) {
      ctx.fail(ErrorCategory::invalid_model, "{}", e.what());
    }
  }
  p->primitive = dnnl::convolution_forward(*pd);
  // x is quantized element by element into memory laid out as x is; a reorder follows where
  // the primitive reads another layout.
  p->quantized_in = onednn::activation(dims.src, src_layout, p->int8 ? dt::u8 : dt::f32);
  p->src_md = pd->src_desc();
  p->src_reorder = reorder_if_needed(p->quantized_in, p->src_md);
  p->scratchpad_md = pd->scratchpad_desc();
  if (p->fused_int8) {
    p->acc_md = pd->dst_desc();  // the f32 output, channels-last
    p->dst_reorder = reorder_if_needed(p->acc_md, p->dst_out);
    p->residual_reorder = reorder_if_needed(p->residual_in, p->acc_md);
  } else if (p->int8 || p->f32_epilogue) {
    p->acc_md = pd->dst_desc();
    p->dst_last = channels_last(dims.dst, dt::f32);
    p->dst_reorder = reorder_if_needed(p->dst_last, p->dst_out);
    p->residual_last = p->dst_last;
    p->residual_reorder = reorder_if_needed(p->residual_in, p->residual_last);
  } else {
    p->acc_md = pd->dst_desc();  // the f32 output, in oneDNN's layout
    p->dst_reorder = reorder_if_needed(p->acc_md, p->dst_out);
    p->residual_reorder = reorder_if_needed(p->residual_in, p->acc_md);
  }
  // The weights in the primitive's layout: s8, or w_s8 + correction widened to f32.
  dnnl::stream stream(engine());
  p->weights = dnnl::memory(pd->weights_desc(), engine());
  const Shape w_dims(dims.weights.begin(), dims.weights.end());
  if (p->int8) {
    dnnl::memory w_src(onednn::plain(w_dims, dt::s8), engine(), const_cast<void*>(w.data()));
    dnnl::reorder(w_src, p->weights).execute(stream, w_src, p->weights);
  } else {
    std::vector<float> wf(static_cast<std::size_t>(w.element_count()));
    const int64_t per_channel = w.element_count() / channels;
    for (std::size_t k = 0; k < wf.size(); ++k)
      wf[k] = static_cast<float>(w.data_as<int8_t>()[k]) + d[k / per_channel];
    dnnl::memory w_src(onednn::plain(w_dims, dt::f32), engine(), wf.data());
    dnnl::reorder(w_src, p->weights).execute(stream, w_src, p->weights);
  }
  stream.wait();
  return p;
}

// Per output pixel and group: the window sum of q - zero point over the group's input
// channels (q channels-last), [N, OH, OW, groups].
std::vector<int32_t> window_sums(const PreparedQuantConv& p, const Shape& x_shape, const uint8_t* q,
                                 int zero_point) {
  const ConvGeometry& g = p.geometry;
  const bool two_d = x_shape.size() == 4;
  const int64_t N = x_shape[0], C = x_shape[1];
  const int64_t H = two_d ? x_shape[2] : 1, W = x_shape.back();
  const int64_t OH = two_d ? p.output_shape[2] : 1, OW = p.output_shape.back();
  const int64_t groups = g.group, cg = C / groups;
  const int64_t kh = two_d ? g.kernel[0] : 1, kw = g.kernel.back();
  const int64_t sh = two_d ? g.strides[0] : 1, sw = g.strides.back();
  const int64_t dh = two_d ? g.dilations[0] : 1, dw = g.dilations.back();
  const int64_t ph = two_d ? g.pads_begin[0] : 0, pw = g.pads_begin.back();
  std::vector<int32_t> pixel(static_cast<std::size_t>(N * H * W * groups), 0);
  parallel_for(N * H * W, true, [&](int64_t i) {
    const uint8_t* px = q + i * C;
    for (int64_t grp = 0; grp < groups; ++grp) {
      int32_t sum = 0;
      for (int64_t c = grp * cg; c < (grp + 1) * cg; ++c) sum += px[c];
      pixel[i * groups + grp] = sum - static_cast<int32_t>(cg) * zero_point;
    }
  });
  std::vector<int32_t> sums(static_cast<std::size_t>(N * OH * OW * groups), 0);
  parallel_for(N * OH, true, [&](int64_t no) {
    const int64_t n = no / OH, oh = no % OH;
    for (int64_t ow = 0; ow < OW; ++ow) {
      int32_t* out = sums.data() + (no * OW + ow) * groups;
      for (int64_t i = 0; i < kh; ++i) {
        const int64_t h = oh * sh - ph + i * dh;
        if (h < 0 || h >= H) continue;
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t w = ow * sw - pw + j * dw;
          if (w < 0 || w >= W) continue;
          const int32_t* in = pixel.data() + ((n * H + h) * W + w) * groups;
          for (int64_t grp = 0; grp < groups; ++grp) out[grp] += in[grp];
        }
      }
    }
  });
  return sums;
}

void op_dynamic_quant_conv(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& scales = ctx.input(2);
  const Tensor& bias = ctx.input(3);
  const Tensor& correction = ctx.input(4);
  const Tensor* residual = ctx.optional_input(5);
  ctx.check(x.element_type() == ElementType::f32 && w.element_type() == ElementType::i8,
            "expects an f32 input and s8 weights, got {} and {}", to_string(x.element_type()),
            to_string(w.element_type()));
  ctx.check(x.rank() >= 3 && x.rank() <= 4 && w.rank() == x.rank(),
            "input {} and weights {} must be 1-D or 2-D convolutions of the same rank",
            to_string(x.shape()), to_string(w.shape()));
  const int64_t channels = w.shape()[0];
  ctx.check(scales.element_count() == channels && bias.element_count() == channels &&
                correction.element_count() == channels,
            "needs one scale, bias and correction per output channel ({})", channels);
  auto make = [&] { return prepare(ctx, x, w, scales, bias, correction); };
  std::shared_ptr<const PreparedQuantConv> p;
  try {
    p = ctx.cache() ? ctx.cache()->get_or_make<PreparedQuantConv>(to_string(x.shape()), make)
                    : make();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal,
             "oneDNN could not set up the quantized convolution for input {}: {}",
             to_string(x.shape()), e.what());
  }
  const bool sums_residual = std::any_of(p->steps.begin(), p->steps.end(), [](const auto& s) {
    return s.kind == PostOpStep::Kind::sum;
  });
  ctx.check(!sums_residual || residual, "has a sum post-op but no residual input");
  if (residual) {
    ctx.check(residual->shape() == p->output_shape && residual->element_type() == ElementType::f32,
              "residual {} does not match the output {}", to_string(residual->shape()),
              to_string(p->output_shape));
  }
  Tensor out = Tensor::uninitialized(ElementType::f32, p->output_shape);
  if (out.element_count() == 0) {
    ctx.set_output(0, out);
    return;
  }
  // 1. DynamicQuantizeLinear's parameters and values, in x's layout.
  const DynamicQuantParams q = input_quant_params(ctx, x.data_as<float>(), x.element_count());
  std::vector<float> channel_scale(static_cast<std::size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) channel_scale[c] = q.scale * scales.data_as<float>()[c];
  // The integer bias of the older quantizer: Cast<int32>(Floor(Div(bias, scale))), and then no
  // float bias.
  const bool integer_bias = ctx.attr_i("integer_bias", 0) != 0;
  std::vector<int32_t> bias_int(static_cast<std::size_t>(integer_bias ? channels : 0));
  std::vector<float> zeros(static_cast<std::size_t>(integer_bias ? channels : 0), 0.f);
  for (int64_t c = 0; c < static_cast<int64_t>(bias_int.size()); ++c)
    bias_int[c] = static_cast<int32_t>(std::floor(bias.data_as<float>()[c] / channel_scale[c]));
  const float* b = integer_bias ? zeros.data() : bias.data_as<float>();
  // The run's temporaries (codes, accumulators, staged layouts: tens of MiB each for IS-Net at
  // 1024x1024) are tensors, so that the inference's arena plans them like any value and no run
  // touches fresh pages for them (oneDNN scratch memory above 16 MiB is allocated anew per run:
  // page faults were a quarter of IS-Net int8's time).
  std::deque<Tensor> temporaries;
  auto temporary = [&](const dnnl::memory::desc& md) {
    temporaries.push_back(
        Tensor::uninitialized(ElementType::u8, {static_cast<int64_t>(md.get_size())}));
    return dnnl::memory(md, engine(), temporaries.back().data());
  };
  try {
    dnnl::stream& stream = onednn::thread_stream();
    dnnl::memory quantized = temporary(p->quantized_in);
    if (p->int8) {
      dynamic_quantize(x.data_as<float>(), x.element_count(), q,
                       static_cast<uint8_t*>(quantized.get_data_handle()));
    } else {
      // (q - zero point) as floats: what the int8 kernel's zero point subtracts.
      dynamic_quantize_centred(x.data_as<float>(), x.element_count(), q,
                               static_cast<float*>(quantized.get_data_handle()));
    }
    dnnl::memory src = quantized;
    if (p->src_reorder) {
      src = temporary(p->src_md);
      p->src_reorder->execute(stream, quantized, src);
    }
    dnnl::memory dst_out(p->dst_out, engine(), out.data());
    dnnl::memory scratchpad = onednn::scratch_memory(p->scratchpad_md, onednn::Scratch::scratchpad);
    if (p->fused_int8) {
      // 2''. The int8 convolution with scales, bias and post-ops, into f32.
      dnnl::memory dst = p->dst_reorder ? temporary(p->acc_md) : dst_out;
      if (residual) {
        dnnl::memory r(p->residual_in, engine(), const_cast<void*>(residual->data()));
        if (p->residual_reorder)
          p->residual_reorder->execute(stream, r, dst);
        else
          std::memcpy(dst.get_data_handle(), residual->data(), residual->byte_size());
      }
      int32_t zero_point = q.zero_point;
      dnnl::memory zp_memory({{1}, dt::s32, tag::x}, engine(), &zero_point);
      dnnl::memory bias_memory({{channels}, dt::f32, tag::x}, engine(),
                               const_cast<float*>(p->fused_bias.data()));
      p->primitive.execute(stream, {{DNNL_ARG_SRC, src},
                                    {DNNL_ARG_WEIGHTS, p->weights},
                                    {DNNL_ARG_BIAS, bias_memory},
                                    {DNNL_ARG_DST, dst},
                                    {DNNL_ARG_SCRATCHPAD, scratchpad},
                                    {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp_memory}});
      if (p->dst_reorder) p->dst_reorder->execute(stream, dst, dst_out);
      stream.wait();
      ctx.set_output(0, out);
      return;
    }
    if (!p->int8 && !p->f32_epilogue) {
      // 2'. f32 convolution with oneDNN post-ops.
      dnnl::memory dst = p->dst_reorder ? temporary(p->acc_md) : dst_out;
      if (residual) {
        dnnl::memory r(p->residual_in, engine(), const_cast<void*>(residual->data()));
        if (p->residual_reorder)
          p->residual_reorder->execute(stream, r, dst);
        else
          std::memcpy(dst.get_data_handle(), residual->data(), residual->byte_size());
      }
      dnnl::memory scale_memory(p->channel_md, engine(), channel_scale.data());
      // The f32 path adds the integer bias (exactly representable) in floats, scaled.
      std::vector<float> f32_bias(b, b + channels);
      for (std::size_t c = 0; c < bias_int.size(); ++c)
        f32_bias[c] = static_cast<float>(bias_int[c]) * channel_scale[c];
      dnnl::memory bias_memory(p->channel_md, engine(), f32_bias.data());
      p->primitive.execute(stream,
                           {{DNNL_ARG_SRC, src},
                            {DNNL_ARG_WEIGHTS, p->weights},
                            {DNNL_ARG_DST, dst},
                            {DNNL_ARG_SCRATCHPAD, scratchpad},
                            {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, scale_memory},
                            {DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, bias_memory}});
      if (p->dst_reorder) p->dst_reorder->execute(stream, dst, dst_out);
      stream.wait();
      ctx.set_output(0, out);
      return;
    }
    // 2. The integer convolution (or the f32 one of the same integers, without post-ops).
    dnnl::memory acc = temporary(p->acc_md);
    int32_t zero_point = q.zero_point;
    dnnl::memory zp_memory({{1}, dt::s32, tag::x}, engine(), &zero_point);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src},
                                                  {DNNL_ARG_WEIGHTS, p->weights},
                                                  {DNNL_ARG_DST, acc},
                                                  {DNNL_ARG_SCRATCHPAD, scratchpad}};
    if (p->int8) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zp_memory;
    p->primitive.execute(stream, args);
    const float* r_last = nullptr;
    dnnl::memory residual_staged;
    if (residual) {
      r_last = residual->data_as<float>();
      if (p->residual_reorder) {
        residual_staged = temporary(p->residual_last);
        dnnl::memory r(p->residual_in, engine(), const_cast<void*>(residual->data()));
        p->residual_reorder->execute(stream, r, residual_staged);
        r_last = static_cast<const float*>(residual_staged.get_data_handle());
      }
    }
    stream.wait();
    // 3. Epilogue, channels-last: integers corrected, scaled, shifted, then the post-ops.
    const std::vector<int32_t> sums =
        p->int8 && p->correct
            ? window_sums(*p, x.shape(), static_cast<const uint8_t*>(src.get_data_handle()),
                          q.zero_point)
            : std::vector<int32_t>{};
    dnnl::memory dst_last = p->dst_reorder ? temporary(p->dst_last) : dst_out;
    float* y = static_cast<float*>(dst_last.get_data_handle());
    const int32_t* a = static_cast<const int32_t*>(acc.get_data_handle());
    const int64_t pixels = out.element_count() / channels;
    const int64_t groups = p->geometry.group, per_group = channels / groups;
    const float* d = correction.data_as<float>();
    std::vector<int32_t> d_int(static_cast<std::size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) d_int[c] = static_cast<int32_t>(d[c]);
    // The integer part of the result besides the accumulators: the correction's and the
    // integer bias'.
    std::vector<int32_t> add_int(static_cast<std::size_t>(channels), 0);
    for (std::size_t c = 0; c < bias_int.size(); ++c) add_int[c] = bias_int[c];
    // The f32 fallback's accumulators are floats, exact integers, corrected in its weights.
    const float* af = static_cast<const float*>(acc.get_data_handle());
    // In chunks of pixels: the loops over one group's channels vectorise, and the post-ops
    // run over a whole chunk (ddddocr's 24-channel layers: per pixel, the epilogue and its swish
    // took ten times the convolution's time).
    const int64_t chunk = std::max<int64_t>(1, 4096 / channels);
    parallel_for((pixels + chunk - 1) / chunk, true, [&](int64_t ci) {
      const int64_t first = ci * chunk, count = std::min(chunk, pixels - first);
      for (int64_t px = first; px < first + count; ++px) {
        const int32_t* in = a + px * channels;
        const float* f = af + px * channels;
        float* row = y + px * channels;
        for (int64_t grp = 0; grp < groups; ++grp) {
          const int64_t c0 = grp * per_group, c1 = c0 + per_group;
          if (!p->int8) {
            for (int64_t c = c0; c < c1; ++c)
              row[c] = (f[c] + static_cast<float>(add_int[c])) * channel_scale[c] + b[c];
          } else {
            const int32_t s = p->correct ? sums[px * groups + grp] : 0;
            for (int64_t c = c0; c < c1; ++c)
              row[c] =
                  static_cast<float>(in[c] + d_int[c] * s + add_int[c]) * channel_scale[c] + b[c];
          }
        }
      }
      apply_post_ops(p->steps, y + first * channels, count * channels,
                     r_last ? r_last + first * channels : nullptr);
    });
    if (p->dst_reorder) {
      p->dst_reorder->execute(stream, dst_last, dst_out);
      stream.wait();
    }
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN quantized convolution failed for input {}: {}",
             to_string(x.shape()), e.what());
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_dynamic_quant_conv_ops(KernelRegistry& r) {
  r.add("DynamicQuantConv", op_dynamic_quant_conv, kCpuDomain);
}

}  // namespace sinter::cpu
