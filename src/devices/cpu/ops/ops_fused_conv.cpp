// FusedConv (domain sinter.cpu, made by conv_fusion.cpp): a Conv with constant f32 weights (or
// int8 codes with per-channel scales, int8_weights.hpp) and
// its post-ops, through one oneDNN convolution primitive. The primitive and the weights in the
// layout it prefers are made once per input shape and kept in the node's cache, so a run only
// moves activations: they arrive and leave in plain NCHW, or in the layout oneDNN's convolutions
// prefer when passed between FusedConvs (keep_conv_layouts), reordered to and from the layout the
// primitive computes in where those differ.
#include <dnnl.hpp>

#include <cstring>
#include <map>
#include <optional>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_descriptor.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/conv_row_bands.hpp"
#include "devices/cpu/ops/depthwise_direct.hpp"
#include "devices/cpu/ops/weight_packing.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

using onednn::engine;

dnnl::reorder::primitive_desc make_reorder(const dnnl::memory::desc& from,
                                           const dnnl::memory::desc& to) {
  return dnnl::reorder::primitive_desc(engine(), from, engine(), to);
}

// How a band of `rows` rows moves between the whole tensors and the band primitive's memory:
// views of that many rows of the input, output and residual in their layouts (a band starts its
// rows' stride times its first row into the tensor), and reorders from and to the first rows of
// the primitive's input and output.
struct BandTransfer {
  dnnl::memory::desc src_view, dst_view, residual_view, src_rows, dst_rows;
  std::optional<dnnl::reorder> src_reorder, dst_reorder, residual_reorder;
};

// Everything made once per input shape.
struct PreparedConv {
  dnnl::convolution_forward primitive;
  // How the tensors arrive and leave (plain, or the convolutions' layout between FusedConvs), and
  // the layouts the primitive computes in.
  dnnl::memory::desc src_in, dst_out, residual_in, src_md, dst_md, scratchpad_md;
  // Reorders between those layouts, made once (creating one per run costs as much as running
  // a small one); empty where the layouts agree.
  std::optional<dnnl::reorder> src_reorder, dst_reorder, residual_reorder;
  std::shared_ptr<const PackedWeights> weights;  // shared by the shapes that pack them alike
  dnnl::memory bias;                             // in the primitive's layout, owned here
  Shape output_shape;
  // Depthwise shapes oneDNN only has its gemm-based kernel for run depthwise_direct.hpp's
  // kernel instead, on the node's own weights and bias; nothing above is made then.
  bool direct_depthwise = false;
  ConvGeometry geometry;
  std::vector<PostOpStep> steps;
  std::vector<float> widened_weights;  // int8 codes times their scales, for that kernel
  // A convolution computed in bands of rows (conv_row_bands.hpp) runs `primitive` on each band,
  // in src_md / dst_md of a band's size, with these instead of the whole-tensor reorders.
  std::vector<RowBand> bands;
  std::map<int64_t, BandTransfer> input_rows, output_rows;  // by a band's row count
  std::size_t src_row_bytes = 0, dst_row_bytes = 0, residual_row_bytes = 0;
  std::size_t src_md_row_bytes = 0;
};

// Bytes between two rows (dimension 2) of a tensor laid out as `md`.
std::size_t row_bytes(const dnnl::memory::desc& md) {
  return static_cast<std::size_t>(md.data.format_desc.blocking.strides[2]) *
         dnnl::memory::data_type_size(md.data_type());
}

// `whole`'s layout for `rows` rows, starting at its first (the caller offsets the handle).
dnnl::memory::desc first_rows(const dnnl::memory::desc& whole, int64_t rows) {
  dnnl::memory::dims dims = whole.dims();
  dims[2] = rows;
  return whole.submemory_desc(dims, dnnl::memory::dims(dims.size(), 0));
}

// A reorder between two layouts, none where they agree.
std::optional<dnnl::reorder> reorder_between(const dnnl::memory::desc& from,
                                             const dnnl::memory::desc& to) {
  if (from == to) return std::nullopt;
  return dnnl::reorder(make_reorder(from, to));
}

// Fills p's layouts and reorders for a primitive over the whole tensors.
void prepare_whole(PreparedConv& p, const dnnl::convolution_forward::primitive_desc& pd) {
  p.src_md = pd.src_desc();
  p.src_reorder = reorder_between(p.src_in, p.src_md);
  p.scratchpad_md = pd.scratchpad_desc();
  p.dst_md = pd.dst_desc();
  p.dst_reorder = reorder_between(p.dst_md, p.dst_out);
  p.residual_reorder = reorder_between(p.residual_in, p.dst_md);
}

// The same for the primitive of each of `bands`, and the transfers of each band's rows.
void prepare_bands(PreparedConv& p, RowBands bands,
                   const dnnl::convolution_forward::primitive_desc& pd) {
  p.src_md = pd.src_desc();
  p.dst_md = pd.dst_desc();
  p.scratchpad_md = pd.scratchpad_desc();
  p.bands = std::move(bands.bands);
  p.src_row_bytes = row_bytes(p.src_in);
  p.dst_row_bytes = row_bytes(p.dst_out);
  p.residual_row_bytes = row_bytes(p.residual_in);
  p.src_md_row_bytes = row_bytes(p.src_md);
  for (const RowBand& band : p.bands) {
    if (!p.input_rows.count(band.in_rows)) {
      BandTransfer t;
      t.src_view = first_rows(p.src_in, band.in_rows);
      t.src_rows = first_rows(p.src_md, band.in_rows);
      t.src_reorder = dnnl::reorder(make_reorder(t.src_view, t.src_rows));
      p.input_rows.emplace(band.in_rows, std::move(t));
    }
    if (!p.output_rows.count(band.out_rows)) {
      BandTransfer t;
      t.dst_view = first_rows(p.dst_out, band.out_rows);
      t.residual_view = first_rows(p.residual_in, band.out_rows);
      t.dst_rows = first_rows(p.dst_md, band.out_rows);
      t.dst_reorder = dnnl::reorder(make_reorder(t.dst_rows, t.dst_view));
      t.residual_reorder = dnnl::reorder(make_reorder(t.residual_view, t.dst_rows));
      p.output_rows.emplace(band.out_rows, std::move(t));
    }
  }
}

std::shared_ptr<const PreparedConv> prepare(const OpContext& ctx, const Tensor& x, const Tensor& w,
                                            const Tensor* bias) {
  const ConvGeometry g = checked_conv_geometry(ctx, x, w);
  const ConvDims dims = conv_dims(x.shape(), w.shape(), g);
  auto p = std::make_shared<PreparedConv>();
  p->output_shape = g.output_shape;
  // Values between two bf16 convolutions are stored in bf16 (src_bf16 / dst_bf16, set by
  // mark_bf16), all others in f32.
  const dt src_type = ctx.attr_i("src_bf16", 0) ? dt::bf16 : dt::f32;
  const dt dst_type = ctx.attr_i("dst_bf16", 0) ? dt::bf16 : dt::f32;
  p->src_in = onednn::activation(dims.src, ctx.attr_s("src_layout", ""), src_type);
  p->dst_out = onednn::activation(dims.dst, ctx.attr_s("dst_layout", ""), dst_type);
  p->residual_in = onednn::activation(dims.dst, ctx.attr_s("residual_layout", ""));
  // Layouts are only chosen where they take no padding; never read or write past a tensor
  // whatever the attributes say.
  const std::size_t out_elements = static_cast<std::size_t>(element_count(g.output_shape));
  ctx.check(p->src_in.get_size() == x.byte_size() &&
                p->dst_out.get_size() == out_elements * (dst_type == dt::bf16 ? 2 : 4) &&
                p->residual_in.get_size() == out_elements * 4,
            "layout attributes do not fit the tensors of input {}", to_string(x.shape()));
  // f32 weights, or int8 codes with a scale per output channel (int8_weights.hpp).
  const bool codes = w.element_type() == ElementType::i8;
  const dnnl::memory::desc w_plain =
      onednn::plain(Shape(dims.weights.begin(), dims.weights.end()), codes ? dt::s8 : dt::f32);
  // Output channels: the first weight dimension, or the first two of grouped weights.
  ChannelGeometry channels;
  channels.mask = dims.weights.size() == x.shape().size() + 1 ? 3 : 1;
  for (std::size_t i = 0; i < dims.weights.size(); ++i)
    (i < (channels.mask == 3 ? 2u : 1u) ? channels.channels : channels.inner) *= dims.weights[i];
  const std::vector<float> scales = int8_weight_scales(ctx, w, channels.channels);
  const dnnl::memory::desc b_md(dims.bias, dt::f32, tag::a);
  // Layouts left to oneDNN: it picks the ones its fastest kernel for this CPU uses.
  // With compute_bf16 the primitive reads bf16 (the reorders convert) and accumulates and writes
  // f32.
  RowBands bands;
  const auto banded = fused_conv_band_desc(ctx.node(), dims, bands);
  const dnnl::convolution_forward::primitive_desc pd = [&] {
    if (banded) return *banded;
    try {
      return fused_conv_primitive_desc(ctx.node(), dims);
    } catch (const std::invalid_argument& e) {
      ctx.fail(ErrorCategory::invalid_model, "{}", e.what());
    }
  }();
  if (prefers_direct_depthwise(ctx.node(), dims, pd.impl_info_str())) {
    p->direct_depthwise = true;
    p->geometry = g;
    if (codes) p->widened_weights = widened_codes(w.data_as<int8_t>(), scales, channels);
    try {
      p->steps = post_op_steps(ctx.node());
    } catch (const std::invalid_argument& e) {
      ctx.fail(ErrorCategory::invalid_model, "{}", e.what());
    }
    return p;
  }
  p->primitive = dnnl::convolution_forward(pd);
  if (banded) {
    prepare_bands(*p, std::move(bands), pd);
  } else {
    prepare_whole(*p, pd);
  }
  p->weights = packed_weights(ctx, 1, w_plain, w.data(), pd.weights_desc(), channels, scales);
  p->bias = dnnl::memory(b_md, engine());
  if (bias) {
    std::memcpy(p->bias.get_data_handle(), bias->data(), bias->byte_size());
  } else {
    std::memset(p->bias.get_data_handle(), 0, b_md.get_size());
  }
  return p;
}

// A convolution in bands of rows: each band's input rows reordered into the primitive's input
// (below zero rows for the image's padding where the band has them), its residual rows into its
// output, computed, and its output rows reordered into `out`. With the residual's memory as
// the output, a band reads its residual rows before it writes them and no band reads rows an
// earlier one wrote.
void run_bands(const OpContext& ctx, const PreparedConv& p, const Tensor& x, const Tensor* residual,
               Tensor& out) {
  try {
    dnnl::stream& stream = onednn::thread_stream();
    Tensor src_holder, dst_holder, scratchpad_holder, weights_holder;
    const dnnl::memory src = onednn::scratch_memory(p.src_md, onednn::Scratch::source, src_holder);
    const dnnl::memory dst =
        onednn::scratch_memory(p.dst_md, onednn::Scratch::destination, dst_holder);
    const dnnl::memory scratchpad =
        onednn::scratch_memory(p.scratchpad_md, onednn::Scratch::scratchpad, scratchpad_holder);
    const dnnl::memory weights = p.weights->for_run(weights_holder);
    auto* src_data = static_cast<char*>(src.get_data_handle());
    const auto* x_rows = static_cast<const char*>(x.data());
    auto* out_rows = static_cast<char*>(out.data());
    const auto* residual_rows = residual ? static_cast<const char*>(residual->data()) : nullptr;
    const auto offset = [](int64_t row, std::size_t bytes) {
      return static_cast<std::size_t>(row) * bytes;
    };
    for (const RowBand& band : p.bands) {
      const BandTransfer& in = p.input_rows.at(band.in_rows);
      const BandTransfer& outs = p.output_rows.at(band.out_rows);
      if (band.in_rows < p.src_md.dims()[2]) {
        stream.wait();  // the last band's reads of src are done
        std::memset(src_data, 0, p.src_md.get_size());
      }
      dnnl::memory src_view(in.src_view, engine(),
                            const_cast<char*>(x_rows + offset(band.in_begin, p.src_row_bytes)));
      dnnl::memory src_rows(in.src_rows, engine(),
                            src_data + offset(band.lead, p.src_md_row_bytes));
      in.src_reorder->execute(stream, src_view, src_rows);
      dnnl::memory dst_rows(outs.dst_rows, engine(), dst.get_data_handle());
      if (residual_rows) {
        dnnl::memory residual_view(
            outs.residual_view, engine(),
            const_cast<char*>(residual_rows + offset(band.out_begin, p.residual_row_bytes)));
        outs.residual_reorder->execute(stream, residual_view, dst_rows);
      }
      p.primitive.execute(stream, {{DNNL_ARG_SCRATCHPAD, scratchpad},
                                   {DNNL_ARG_SRC, src},
                                   {DNNL_ARG_WEIGHTS, weights},
                                   {DNNL_ARG_BIAS, p.bias},
                                   {DNNL_ARG_DST, dst}});
      dnnl::memory dst_view(outs.dst_view, engine(),
                            out_rows + offset(band.out_begin, p.dst_row_bytes));
      outs.dst_reorder->execute(stream, dst_rows, dst_view);
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN convolution failed for input {}: {}",
             to_string(x.shape()), e.what());
  }
}

void op_fused_conv(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  const Tensor* residual = ctx.optional_input(3);
  const ElementType in_type = ctx.attr_i("src_bf16", 0) ? ElementType::bf16 : ElementType::f32;
  const ElementType out_type = ctx.attr_i("dst_bf16", 0) ? ElementType::bf16 : ElementType::f32;
  ctx.check(x.element_type() == in_type &&
                (w.element_type() == ElementType::f32 || w.element_type() == ElementType::i8),
            "expects {} input and f32 or int8 weights, got {} and {}", to_string(in_type),
            to_string(x.element_type()), to_string(w.element_type()));
  ctx.check(x.rank() >= 3 && x.rank() <= 5 && w.rank() == x.rank(),
            "input {} and weights {} must be 1-D to 3-D convolutions of the same rank",
            to_string(x.shape()), to_string(w.shape()));
  auto make = [&] { return prepare(ctx, x, w, bias); };
  std::shared_ptr<const PreparedConv> p;
  try {
    p = ctx.cache() ? ctx.cache()->get_or_make<PreparedConv>(to_string(x.shape()), make) : make();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN could not set up the convolution for input {}: {}",
             to_string(x.shape()), e.what());
  }
  if (residual) {
    ctx.check(residual->shape() == p->output_shape && residual->element_type() == ElementType::f32,
              "residual {} {} does not match the output {}", to_string(residual->element_type()),
              to_string(residual->shape()), to_string(p->output_shape));
  }
  // The sum post-op adds the convolution's result to what dst holds. Where the residual dies
  // here and is already in the primitive's output layout, the result goes into its memory
  // (no copy, no new buffer).
  if (p->direct_depthwise) {
    Tensor out = Tensor::uninitialized(ElementType::f32, p->output_shape);
    const float* weights =
        p->widened_weights.empty() ? w.data_as<float>() : p->widened_weights.data();
    depthwise_conv_plain(p->geometry, x.shape(), x.data_as<float>(), weights,
                         bias ? bias->data_as<float>() : nullptr,
                         residual ? residual->data_as<float>() : nullptr, p->steps,
                         out.data_as<float>());
    ctx.set_output(0, out);
    return;
  }
  const bool in_place = residual && ctx.reusable_input(3) && !p->residual_reorder &&
                        !p->dst_reorder && p->residual_in == p->dst_out;
  Tensor out = in_place ? *residual : Tensor::uninitialized(out_type, p->output_shape);
  if (out.element_count() == 0) {
    ctx.set_output(0, out);
    return;
  }
  if (!p->bands.empty()) {
    run_bands(ctx, *p, x, residual, out);
    ctx.set_output(0, out);
    return;
  }
  try {
    dnnl::stream& stream = onednn::thread_stream();
    Tensor src_holder, dst_holder, scratchpad_holder;  // large staging memory (onednn_util.hpp)
    dnnl::memory src_in(p->src_in, engine(), const_cast<void*>(x.data()));
    dnnl::memory dst_out(p->dst_out, engine(), out.data());
    dnnl::memory src = src_in;
    if (p->src_reorder) {
      src = onednn::scratch_memory(p->src_md, onednn::Scratch::source, src_holder);
      p->src_reorder->execute(stream, src_in, src);
    }
    dnnl::memory dst =
        p->dst_reorder ? onednn::scratch_memory(p->dst_md, onednn::Scratch::destination, dst_holder)
                       : dst_out;
    if (residual && !in_place) {
      dnnl::memory r(p->residual_in, engine(), const_cast<void*>(residual->data()));
      if (p->residual_reorder)
        p->residual_reorder->execute(stream, r, dst);
      else
        std::memcpy(dst.get_data_handle(), residual->data(), residual->byte_size());
    }
    dnnl::memory scratchpad =
        onednn::scratch_memory(p->scratchpad_md, onednn::Scratch::scratchpad, scratchpad_holder);
    Tensor weights_holder;
    const dnnl::memory weights = p->weights->for_run(weights_holder);
    p->primitive.execute(stream, {{DNNL_ARG_SCRATCHPAD, scratchpad},
                                  {DNNL_ARG_SRC, src},
                                  {DNNL_ARG_WEIGHTS, weights},
                                  {DNNL_ARG_BIAS, p->bias},
                                  {DNNL_ARG_DST, dst}});
    if (p->dst_reorder) p->dst_reorder->execute(stream, dst, dst_out);
    stream.wait();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN convolution failed for input {}: {}",
             to_string(x.shape()), e.what());
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_fused_conv_ops(KernelRegistry& r) {
  r.add("FusedConv", op_fused_conv, kCpuDomain);
}

}  // namespace sinter::cpu
