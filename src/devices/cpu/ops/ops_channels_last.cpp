// The internal ops that let values stay in the convolutions' layout between convolutions
// (layout_propagation.cpp): GlobalAveragePool over an NHWC input; ChannelScale / ChannelShift,
// the Mul / Add of an NHWC tensor and one value per channel (and sample); views of channels-last
// memory as tokens and back; Resize of the spatial axes (nearest by whole factors, and linear,
// cubic and nearest in general). Logical shapes stay NCHW; only
// the element order differs. Layout propagation makes these only for channels-last values (the
// plain cases stay the ONNX ops), so that is the one layout they read. Two take any of the kept
// layouts (attribute layout): Concat and Split along the channels, and LayoutToPlain, the copy into
// NCHW for readers that take only that.
#include <algorithm>
#include <unordered_map>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/column_totals.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/resize_plan.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

void check_channels_last_f32(const OpContext& ctx, const Tensor& x, const char* layout_attr) {
  ctx.check(ctx.attr_s(layout_attr, "") == "channels_last",
            "made for channels-last input only ({} is '{}')", layout_attr,
            ctx.attr_s(layout_attr, ""));
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 3,
            "expects an f32 tensor [N, C, spatial...], got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
}

void op_global_average_pool(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  check_channels_last_f32(ctx, x, "src_layout");
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t spatial = N * C > 0 ? x.element_count() / (N * C) : 0;
  Shape out_shape = {N, C};
  out_shape.resize(x.shape().size(), 1);
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  channel_means(x.data_as<float>(), N, spatial, C, out.data_as<float>());
  ctx.set_output(0, out);
}

// ChannelScale (x * s) and ChannelShift (x + s), s one value per channel (and sample).
void op_channel_scale(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& s = ctx.input(1);
  check_channels_last_f32(ctx, x, "layout");
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t spatial = N * C > 0 ? x.element_count() / (N * C) : 0;
  ctx.check(s.element_type() == ElementType::f32 &&
                (s.element_count() == C || s.element_count() == N * C),
            "{} {} is not one f32 value per channel (and sample) of {}",
            ctx.node().op_type == "ChannelShift" ? "shift" : "scale", to_string(s.shape()),
            to_string(x.shape()));
  const bool per_sample = s.element_count() == N * C && N > 1;
  const bool shift = ctx.node().op_type == "ChannelShift";
  // Written into x's memory where this node is x's last reader.
  const Tensor* reusable = ctx.reusable_input(0);
  Tensor out = reusable ? *reusable : Tensor::uninitialized(ElementType::f32, x.shape());
  const float* src = x.data_as<float>();
  const float* values = s.data_as<float>();
  float* dst = out.data_as<float>();
  const std::vector<float> ones(shift ? static_cast<std::size_t>(C) : 0, 1.f);
  for_each_row_run(N, spatial, C, [&](int64_t first, int64_t rows, int64_t n) {
    const float* v = values + (per_sample ? n * C : 0);
    if (shift)
      vec::scale_shift_rows(src + first, rows, C, ones.data(), v, dst + first);
    else
      vec::multiply_rows(src + first, rows, C, v, dst + first);
  });
  ctx.set_output(0, out);
}

// An image kept channels-last [N, C, spatial...] as the tokens [N, S, C] a transformer reads, or
// with attribute `shape` as [N, spatial..., C]: the same memory (made by layout propagation from
// Reshape + Transpose, or from a Transpose that moves the channels last).
void op_channels_last_tokens(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  check_channels_last_f32(ctx, x, "layout");
  const int64_t N = x.shape()[0], C = x.shape()[1];
  if (!ctx.has_attr("shape")) {
    ctx.set_output(0, x.reshaped({N, N * C > 0 ? x.element_count() / (N * C) : 0, C}));
    return;
  }
  const std::vector<int64_t> shape = ctx.attr_ints("shape");
  ctx.check(shape.size() == static_cast<std::size_t>(x.rank()) && shape[0] == N &&
                shape.back() == C &&
                element_count(Shape(shape.begin(), shape.end())) == x.element_count(),
            "image {} is not {} with the channels last", to_string(x.shape()),
            to_string(Shape(shape.begin(), shape.end())));
  ctx.set_output(0, x.reshaped(Shape(shape.begin(), shape.end())));
}

// Tokens [N, S, C] (or [N, spatial..., C]) as the channels-last image [N, C, spatial...] of
// attribute `shape`: the same memory (made by layout propagation from Transpose + Reshape, or
// from a Transpose that moves the channels back).
void op_tokens_as_channels_last(OpContext& ctx) {
  const Tensor& t = ctx.input(0);
  ctx.check(ctx.attr_s("layout", "") == onednn::kChannelsLast, "made for channels-last output");
  const std::vector<int64_t> shape = ctx.attr_ints("shape");
  ctx.check(t.element_type() == ElementType::f32 && t.rank() >= 3 && shape.size() >= 3 &&
                shape[0] == t.shape()[0] && shape[1] == t.shape().back() &&
                element_count(Shape(shape.begin(), shape.end())) == t.element_count(),
            "tokens {} {} are not the image {}", to_string(t.element_type()), to_string(t.shape()),
            to_string(Shape(shape.begin(), shape.end())));
  ctx.set_output(0, t.reshaped(Shape(shape.begin(), shape.end())));
}

// A value kept in the convolutions' layout (attribute layout) copied into plain NCHW order for
// readers that take only that (layout propagation adds it where some readers of a kept value do
// and others do not).
void op_layout_to_plain(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 3 && x.rank() <= 5,
            "expects an f32 tensor [N, C, spatial...], got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
  const std::string layout = ctx.attr_s("layout", "");
  const dnnl::memory::dims dims(x.shape().begin(), x.shape().end());
  const dnnl::memory::desc from = onednn::activation(dims, layout);
  const dnnl::memory::desc to = onednn::plain_f32(x.shape());
  ctx.check(!(from == to), "layout '{}' is not one the convolutions keep", layout);
  auto make = [&] {
    return std::make_shared<const dnnl::reorder>(
        dnnl::reorder::primitive_desc(onednn::engine(), from, onednn::engine(), to));
  };
  const auto reorder =
      ctx.cache() ? ctx.cache()->get_or_make<dnnl::reorder>(to_string(x.shape()), make) : make();
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  onednn::execute(*reorder, {{DNNL_ARG_FROM, {from, x.data()}}, {DNNL_ARG_TO, {to, out.data()}}});
  ctx.set_output(0, out);
}

// Concat along the channel axis of values kept in the convolutions' layout (attribute layout,
// any of the three), in that layout: one oneDNN concat primitive per set of input shapes. Made
// by layout propagation only where every input is kept and the channels fill whole blocks.
void op_concat_in_conv_layout(OpContext& ctx) {
  const std::string layout = ctx.attr_s("layout", "");
  std::vector<const Tensor*> inputs;
  std::string key;
  for (std::size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor& t = ctx.input(i);
    ctx.check(t.element_type() == ElementType::f32 && t.rank() >= 3 && t.rank() <= 5,
              "input {} must be an f32 image [N, C, spatial...], got {} {}", i,
              to_string(t.element_type()), to_string(t.shape()));
    inputs.push_back(&t);
    key += to_string(t.shape());
  }
  ctx.check(!inputs.empty(), "needs at least one input");
  Shape out_shape = inputs[0]->shape();
  out_shape[1] = 0;
  for (const Tensor* t : inputs) {
    Shape other = t->shape();
    other[1] = out_shape[1];
    ctx.check(other == out_shape, "inputs {} and {} differ in more than the channels",
              to_string(inputs[0]->shape()), to_string(t->shape()));
    out_shape[1] += t->shape()[1];
  }
  auto dims = [](const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); };
  std::vector<dnnl::memory::desc> sources;
  for (const Tensor* t : inputs) sources.push_back(onednn::activation(dims(t->shape()), layout));
  const dnnl::memory::desc destination = onednn::activation(dims(out_shape), layout);
  auto make = [&] {
    return std::make_shared<const dnnl::concat>(
        dnnl::concat::primitive_desc(destination, 1, sources, onednn::engine()));
  };
  std::shared_ptr<const dnnl::concat> concat;
  try {
    concat = ctx.cache() ? ctx.cache()->get_or_make<dnnl::concat>(key, make) : make();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN cannot concatenate {} in layout '{}': {}", key,
             layout, e.what());
  }
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  std::unordered_map<int, std::pair<dnnl::memory::desc, const void*>> args = {
      {DNNL_ARG_DST, {destination, out.data()}}};
  for (std::size_t i = 0; i < inputs.size(); ++i)
    args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = {sources[i], inputs[i]->data()};
  onednn::execute(*concat, args);
  ctx.set_output(0, out);
}

// Split along the channel axis of a value kept in the convolutions' layout (attribute layout,
// any of the three) into outputs in that layout with the channel counts of attribute channels:
// each output one oneDNN reorder from the input's channel range (a sub-memory of it). Made by
// layout propagation where the input is kept and every output's channels fill whole blocks.
void op_split_in_conv_layout(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 3 && x.rank() <= 5,
            "expects an f32 image [N, C, spatial...], got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
  const std::string layout = ctx.attr_s("layout", "");
  const std::vector<int64_t> channels = ctx.attr_ints("channels");
  ctx.check(channels.size() == ctx.output_count(), "has {} channel counts for {} outputs",
            channels.size(), ctx.output_count());
  int64_t total = 0;
  for (int64_t c : channels) {
    ctx.check(c >= 0, "channel counts must not be negative");
    total += c;
  }
  ctx.check(total == x.shape()[1], "channel counts add up to {}, the input {} has {}", total,
            to_string(x.shape()), x.shape()[1]);
  const dnnl::memory::dims dims(x.shape().begin(), x.shape().end());
  const dnnl::memory::desc whole = onednn::activation(dims, layout);
  int64_t first = 0;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    dnnl::memory::dims part_dims = dims, offsets(dims.size(), 0);
    part_dims[1] = channels[i];
    offsets[1] = first;
    Tensor out = Tensor::uninitialized(ElementType::f32, Shape(part_dims.begin(), part_dims.end()));
    if (channels[i] > 0 && out.element_count() > 0) {
      const dnnl::memory::desc to = onednn::activation(part_dims, layout);
      dnnl::memory::desc from;
      std::shared_ptr<const dnnl::reorder> reorder;
      try {
        from = whole.submemory_desc(part_dims, offsets);
        auto make = [&] {
          return std::make_shared<const dnnl::reorder>(
              dnnl::reorder::primitive_desc(onednn::engine(), from, onednn::engine(), to));
        };
        const std::string key = to_string(x.shape()) + "/" + std::to_string(i);
        reorder = ctx.cache() ? ctx.cache()->get_or_make<dnnl::reorder>(key, make) : make();
      } catch (const dnnl::error& e) {
        ctx.fail(ErrorCategory::internal,
                 "oneDNN cannot copy channels {}..{} of {} in layout '{}': {}", first,
                 first + channels[i], to_string(x.shape()), layout, e.what());
      }
      onednn::execute(*reorder,
                      {{DNNL_ARG_FROM, {from, x.data()}}, {DNNL_ARG_TO, {to, out.data()}}});
    }
    first += channels[i];
    ctx.set_output(i, out);
  }
}

// Nearest-neighbour upsampling by whole factors (attribute factors, one per spatial axis) of a
// channels-last image: each output pixel is a copy of the C channels of input pixel
// (y / fy, x / fx, ...). Made by layout propagation for PyTorch's F.interpolate(mode="nearest").
// Whole-factor nearest upsampling (attribute factors): every output pixel a copy of one input
// pixel's C channels.
void resize_by_factors(OpContext& ctx, const Tensor& x) {
  const std::vector<int64_t> factors = ctx.attr_ints("factors");
  ctx.check(factors.size() + 2 == static_cast<std::size_t>(x.rank()),
            "needs one factor per spatial axis of {}", to_string(x.shape()));
  Shape out_shape = x.shape();
  for (std::size_t i = 0; i < factors.size(); ++i) {
    ctx.check(factors[i] >= 1, "factors must be positive");
    out_shape[i + 2] *= factors[i];
  }
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t out_pixels = N > 0 && C > 0 ? out.element_count() / (N * C) : 0;
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  const std::size_t spatial = factors.size();
  parallel_for(N * out_pixels, true, [&](int64_t n_pixel) {
    // Output pixel -> input pixel, axis by axis from the last.
    int64_t rest = n_pixel % out_pixels, in_pixel = 0, in_stride = 1;
    for (std::size_t a = spatial; a-- > 0;) {
      const int64_t extent = out_shape[a + 2];
      in_pixel += rest % extent / factors[a] * in_stride;
      in_stride *= x.shape()[a + 2];
      rest /= extent;
    }
    const int64_t in_pixels = in_stride;
    std::copy_n(src + (n_pixel / out_pixels * in_pixels + in_pixel) * C, C, dst + n_pixel * C);
  });
  ctx.set_output(0, out);
}

// Any other Resize of the two spatial axes (N and C unchanged; linear, cubic or nearest, as
// the node's ONNX attributes and inputs say): per output row the input rows it reads, weighted,
// summed into one row of in_w pixels, then each output pixel the weighted sum of the pixels its
// width taps name; both steps over whole pixels of C channels (vectorised).
void resize_spatial(OpContext& ctx, const Tensor& x) {
  ctx.check(x.rank() == 4, "resizes 4-D tensors, got {}", to_string(x.shape()));
  // The node is in sinter.cpu's domain; its attributes and inputs are the ONNX Resize's of the
  // model's opset (kept by layout propagation).
  const ResizePlan plan = plan_resize(ctx, x, ctx.attr_i("onnx_opset", 11));
  std::vector<std::vector<std::vector<Tap>>> taps(4);
  for (int64_t d = 0; d < 4; ++d) {
    const double start = plan.roi.size() == 8 ? plan.roi[d] : 0.0;
    const double end = plan.roi.size() == 8 ? plan.roi[4 + d] : 1.0;
    taps[d] = axis_taps(plan.params, x.shape()[d], plan.out_shape[d], plan.scales[d], start, end);
  }
  // Layout propagation keeps only resizes that leave N and C as they are and never extrapolate.
  for (int64_t d = 0; d < 4; ++d) {
    for (std::size_t j = 0; j < taps[d].size(); ++j) {
      ctx.check(!taps[d][j].empty(), "reads outside its input (extrapolation) on axis {}", d);
      if (d >= 2) continue;
      for (const Tap& t : taps[d][j])
        ctx.check(t.weight == (static_cast<std::size_t>(t.index) == j ? 1.0 : 0.0),
                  "changes axis {}, which the channels-last kernel keeps", d);
    }
  }
  Tensor out = Tensor::uninitialized(ElementType::f32, plan.out_shape);
  const int64_t N = x.shape()[0], C = x.shape()[1], in_h = x.shape()[2], in_w = x.shape()[3];
  const int64_t out_h = plan.out_shape[2], out_w = plan.out_shape[3];
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
#pragma omp parallel
  {
    std::vector<float> row(static_cast<std::size_t>(in_w * C));
#pragma omp for schedule(static)
    for (int64_t nh = 0; nh < N * out_h; ++nh) {
      const int64_t n = nh / out_h, oh = nh % out_h;
      const auto& th = taps[2][oh];
      std::fill(row.begin(), row.end(), 0.f);
      for (const Tap& t : th) {
        const float w = static_cast<float>(t.weight);
        if (w == 0.f) continue;
        const float* in_row = src + (n * in_h + t.index) * in_w * C;
        for (int64_t i = 0; i < in_w * C; ++i) row[i] += w * in_row[i];
      }
      float* out_row = dst + nh * out_w * C;
      for (int64_t ow = 0; ow < out_w; ++ow) {
        float* px = out_row + ow * C;
        std::fill(px, px + C, 0.f);
        for (const Tap& t : taps[3][ow]) {
          const float w = static_cast<float>(t.weight);
          if (w == 0.f) continue;
          const float* in_px = row.data() + t.index * C;
          for (int64_t c = 0; c < C; ++c) px[c] += w * in_px[c];
        }
      }
    }
  }
  ctx.set_output(0, out);
}

void op_resize_channels_last(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  check_channels_last_f32(ctx, x, "layout");
  if (ctx.node().find("factors"))
    resize_by_factors(ctx, x);
  else
    resize_spatial(ctx, x);
}

}  // namespace

void register_channels_last_ops(KernelRegistry& r) {
  r.add("Resize", op_resize_channels_last, kCpuDomain);
  r.add("Concat", op_concat_in_conv_layout, kCpuDomain);
  r.add("Split", op_split_in_conv_layout, kCpuDomain);
  r.add("ChannelsLastTokens", op_channels_last_tokens, kCpuDomain);
  r.add("TokensAsChannelsLast", op_tokens_as_channels_last, kCpuDomain);
  r.add("GlobalAveragePool", op_global_average_pool, kCpuDomain);
  r.add("ChannelScale", op_channel_scale, kCpuDomain);
  r.add("ChannelShift", op_channel_scale, kCpuDomain);
  r.add("LayoutToPlain", op_layout_to_plain, kCpuDomain);
}

}  // namespace sinter::cpu
