// FusedMatMul (domain sinter.cpu, made by fuse_matmuls): A[..., K] x W[K, N] + bias, then
// post-ops, through one oneDNN matmul primitive per row count, with W pre-packed once in the
// layout the primitive prefers. A's leading dimensions are rows of one matrix product (W is
// shared by all of them). With compute_bf16, A and W are read as bf16 and the product is
// accumulated and written in f32.
#include <dnnl.hpp>

#include <cstring>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_descriptor.hpp"
#include "devices/cpu/ops/weight_packing.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct PreparedMatMul {
  dnnl::matmul primitive;
  dnnl::memory::desc src_in, src_md, dst_md, bias_md, scratchpad_md;
  std::shared_ptr<const PackedWeights> weights;  // shared by the row counts that pack them alike
};

std::shared_ptr<const PreparedMatMul> prepare(const OpContext& ctx, int64_t m, const Tensor& w,
                                              const Tensor* bias) {
  const int64_t k = w.shape()[0], n = w.shape()[1];
  const dt compute = ctx.attr_i("compute_bf16", 0) ? dt::bf16 : dt::f32;
  // A arrives, and the result leaves, in bf16 where they pass between two bf16 products
  // (src_bf16 / dst_bf16, set by mark_bf16); in f32 otherwise.
  const dt src_type = ctx.attr_i("src_bf16", 0) ? dt::bf16 : dt::f32;
  const dt dst_type = ctx.attr_i("dst_bf16", 0) ? dt::bf16 : dt::f32;
  auto p = std::make_shared<PreparedMatMul>();
  p->src_in = dnnl::memory::desc({m, k}, src_type, tag::ab);
  p->src_md = dnnl::memory::desc({m, k}, compute, tag::ab);
  p->dst_md = dnnl::memory::desc({m, n}, dst_type, tag::ab);
  p->bias_md = dnnl::memory::desc({1, n}, dt::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd = [&] {
    try {
      return fused_matmul_primitive_desc(ctx.node(), m, k, n, bias != nullptr);
    } catch (const std::invalid_argument& e) {
      ctx.fail(ErrorCategory::invalid_model, "{}", e.what());
    }
  }();
  p->primitive = dnnl::matmul(pd);
  p->scratchpad_md = pd.scratchpad_desc();
  // Output channels: W's columns. f32 weights, or int8 codes with a scale per column
  // (int8_weights.hpp).
  const bool codes = w.element_type() == ElementType::i8;
  p->weights = packed_weights(ctx, 1, dnnl::memory::desc({k, n}, codes ? dt::s8 : dt::f32, tag::ab),
                              w.data(), pd.weights_desc(), ChannelGeometry{k, n, 1, 2},
                              int8_weight_scales(ctx, w, n));
  return p;
}

void op_fused_matmul(OpContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  const Tensor* residual = ctx.optional_input(3);
  const ElementType in_type = ctx.attr_i("src_bf16", 0) ? ElementType::bf16 : ElementType::f32;
  const ElementType out_type = ctx.attr_i("dst_bf16", 0) ? ElementType::bf16 : ElementType::f32;
  ctx.check(a.element_type() == in_type &&
                (w.element_type() == ElementType::f32 || w.element_type() == ElementType::i8),
            "expects {} A and f32 or int8 weights, got {} and {}", to_string(in_type),
            to_string(a.element_type()), to_string(w.element_type()));
  ctx.check(a.rank() >= 2 && w.rank() == 2 && a.shape().back() == w.shape()[0],
            "inner dimensions differ: A is {}, B is {}", to_string(a.shape()),
            to_string(w.shape()));
  const int64_t k = w.shape()[0], n = w.shape()[1];
  ctx.check(!bias || (bias->element_type() == ElementType::f32 && bias->element_count() == n),
            "bias must be f32 with {} elements", n);
  Shape out_shape = a.shape();
  out_shape.back() = n;
  ctx.check(
      !residual || (residual->shape() == out_shape && residual->element_type() == ElementType::f32),
      "residual does not match the output {}", to_string(out_shape));
  const int64_t m = k ? a.element_count() / k : 0;
  if (element_count(out_shape) == 0) {
    ctx.set_output(0, Tensor(out_type, out_shape));
    return;
  }
  if (k == 0) {
    // The empty sum: the result is bias + residual, which only the sum post-op keeps exact.
    // (mark_bf16 gives no bf16 result to products with K = 0.)
    ctx.check(out_type == ElementType::f32, "an empty (K = 0) product has no bf16 result");
    const ir::Attribute* post = ctx.node().find("post_ops");
    for (const auto& kind : post ? post->strings : std::vector<std::string>{})
      ctx.check(kind == "sum", "an empty (K = 0) product followed by {} is not supported", kind);
    Tensor out = residual ? residual->clone() : Tensor(ElementType::f32, out_shape);
    if (bias)
      for (int64_t i = 0; i < out.element_count(); ++i)
        out.data_as<float>()[i] += bias->data_as<float>()[i % n];
    ctx.set_output(0, out);
    return;
  }
  std::shared_ptr<const PreparedMatMul> p;
  auto make = [&] { return prepare(ctx, m, w, bias); };
  try {
    p = ctx.cache() ? ctx.cache()->get_or_make<PreparedMatMul>(std::to_string(m), make) : make();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN could not set up the matrix product {} x {}: {}",
             to_string(a.shape()), to_string(w.shape()), e.what());
  }
  ctx.check(!residual || out_type == ElementType::f32, "a bf16 result cannot add a residual");
  Tensor out = residual ? residual->clone() : Tensor::uninitialized(out_type, out_shape);
  try {
    dnnl::stream& stream = onednn::thread_stream();
    dnnl::memory src(p->src_in, onednn::engine(), const_cast<void*>(a.data()));
    Tensor converted_holder;          // large staging memory (onednn_util.hpp)
    if (!(p->src_md == p->src_in)) {  // bf16: convert A once per run
      dnnl::memory converted =
          onednn::scratch_memory(p->src_md, onednn::Scratch::source, converted_holder);
      dnnl::reorder(src, converted).execute(stream, src, converted);
      src = converted;
    }
    dnnl::memory scratchpad = onednn::scratch_memory(p->scratchpad_md, onednn::Scratch::scratchpad);
    Tensor weights_holder;
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SCRATCHPAD, scratchpad},
        {DNNL_ARG_SRC, src},
        {DNNL_ARG_WEIGHTS, p->weights->for_run(weights_holder)},
        {DNNL_ARG_DST, dnnl::memory(p->dst_md, onednn::engine(), out.data())}};
    if (bias)
      args[DNNL_ARG_BIAS] =
          dnnl::memory(p->bias_md, onednn::engine(), const_cast<void*>(bias->data()));
    p->primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN matrix product failed for {} x {}: {}",
             to_string(a.shape()), to_string(w.shape()), e.what());
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_fused_matmul_ops(KernelRegistry& r) {
  r.add("FusedMatMul", op_fused_matmul, kCpuDomain);
}

}  // namespace sinter::cpu
