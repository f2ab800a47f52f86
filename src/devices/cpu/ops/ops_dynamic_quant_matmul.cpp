// DynamicQuantMatMul (domain sinter.cpu, made by fuse_dynamic_quant_matmuls): ONNX Runtime's
// dynamically quantized MatMul in one node. Inputs: x (f32 [..., K]), w (s8 [K, N]: the model's
// weights less 128 for uint8 ones), scales (f32 [N]: the weights' scale per column), correction
// (f32 [N], integral: what the weights lack of wq - wz: 128 - wz for uint8 ones, -wz for int8),
// bias (optional f32 [N]: a constant Add that followed). Per run:
//   1. x's uint8 scale and zero point as DynamicQuantizeLinear gives them, and its codes q;
//   2. a oneDNN int8 matrix product of q (u8) with w (s8) into int32, weights packed once;
//   3. per element the exact integer product of ONNX's MatMulInteger,
//        acc - zx * colsum(w)[c] + correction[c] * (rowsum(q)[r] - K * zx),
//      then float(that) * (scale(x) * scales[c]) + bias[c]: the Cast, Mul and Add that followed.
// Without VNNI oneDNN's int8 products saturate in int16 for codes of 128 and above: step 2 then
// multiplies the codes' low 7 bits and top bit separately (two int8 products, both exact). Where
// only oneDNN's reference kernel takes int8, step 2 is an f32 product of (q - zx) with
// (w + correction) as floats (small integers: exact while a sum stays below 2^24), and step 3
// only scales.
#include <dnnl.hpp>

#include <algorithm>
#include <numeric>

#include "base/mapped_file.hpp"
#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_descriptor.hpp"
#include "devices/cpu/ops/dynamic_quant.hpp"
#include "devices/cpu/ops/parallel_for.hpp"

namespace sinter::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Made once per row count.
struct PreparedQuantMatMul {
  dnnl::matmul primitive;
  bool int8 = true;
  bool halves = false;  // int8 without VNNI: the codes' low 7 bits and top bit multiplied apart
  dnnl::memory::desc src_md, dst_md, scratchpad_md;
  dnnl::memory weights;
  std::vector<int32_t> column_sums;  // int8: sum over k of w[k][c]
};

std::shared_ptr<const PreparedQuantMatMul> prepare(const OpContext& ctx, int64_t m, const Tensor& w,
                                                   const float* correction) {
  const int64_t k = w.shape()[0], n = w.shape()[1];
  auto p = std::make_shared<PreparedQuantMatMul>();
  const dnnl::matmul::primitive_desc pd = quant_matmul_primitive_desc(m, k, n, p->int8);
  p->halves = p->int8 && !onednn::exact_int8_products();
  p->primitive = dnnl::matmul(pd);
  p->src_md = pd.src_desc();
  p->dst_md = pd.dst_desc();
  p->scratchpad_md = pd.scratchpad_desc();
  p->weights = dnnl::memory(pd.weights_desc(), onednn::engine());
  dnnl::stream stream(onednn::engine());
  const int8_t* wq = w.data_as<int8_t>();
  if (p->int8) {
    dnnl::memory plain({{k, n}, dt::s8, tag::ab}, onednn::engine(), const_cast<int8_t*>(wq));
    dnnl::reorder(plain, p->weights).execute(stream, plain, p->weights);
    p->column_sums.assign(static_cast<std::size_t>(n), 0);
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c) p->column_sums[c] += wq[r * n + c];
  } else {
    std::vector<float> wf(static_cast<std::size_t>(k * n));
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c) wf[r * n + c] = float(wq[r * n + c]) + correction[c];
    dnnl::memory plain({{k, n}, dt::f32, tag::ab}, onednn::engine(), wf.data());
    dnnl::reorder(plain, p->weights).execute(stream, plain, p->weights);
  }
  stream.wait();
  // The packed copy is what runs from now on (as in FusedMatMul).
  if (ctx.input_is_constant(1)) MappedFile::release_pages(w.data(), w.byte_size());
  return p;
}

void op_dynamic_quant_matmul(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& scales = ctx.input(2);
  const Tensor& correction = ctx.input(3);
  const Tensor* bias = ctx.optional_input(4);
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 1,
            "x must be f32 with at least one axis, got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
  ctx.check(
      w.element_type() == ElementType::i8 && w.rank() == 2 && x.shape().back() == w.shape()[0],
      "expects int8 weights [K, N] with K = x's last axis, got x {} and w {} {}",
      to_string(x.shape()), to_string(w.element_type()), to_string(w.shape()));
  const int64_t k = w.shape()[0], n = w.shape()[1];
  for (const Tensor* t : {&scales, &correction, bias})
    ctx.check(!t || (t->element_type() == ElementType::f32 && t->element_count() == n),
              "scales, correction and bias must be f32 with {} elements", n);
  Shape out_shape = x.shape();
  out_shape.back() = n;
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  const int64_t m = element_count(out_shape) / std::max<int64_t>(n, 1);
  float* y = out.data_as<float>();
  const float* ws = scales.data_as<float>();
  const float* corr = correction.data_as<float>();
  const float* b = bias ? bias->data_as<float>() : nullptr;
  if (m == 0 || n == 0) {
    ctx.set_output(0, out);
    return;
  }
  // 1. The codes, as DynamicQuantizeLinear makes them (the whole of x shares one scale).
  const DynamicQuantParams q = input_quant_params(ctx, x.data_as<float>(), x.element_count());
  if (k == 0) {
    for (int64_t i = 0; i < m * n; ++i) y[i] = b ? b[i % n] : 0.f;
    ctx.set_output(0, out);
    return;
  }
  std::shared_ptr<const PreparedQuantMatMul> p;
  auto make = [&] { return prepare(ctx, m, w, corr); };
  try {
    p = ctx.cache() && ctx.input_is_constant(1) && ctx.input_is_constant(3)
            ? ctx.cache()->get_or_make<PreparedQuantMatMul>(std::to_string(m), make)
            : make();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN could not set up the int8 matrix product {} x {}: {}",
             to_string(x.shape()), to_string(w.shape()), e.what());
  }
  const int zx = q.zero_point;
  // The codes and accumulators are tensors: the inference's arena plans their memory (no fresh
  // pages per run, as std::vector's large blocks would be).
  Tensor codes, acc, centred;
  dnnl::memory src, dst;
  if (p->int8) {
    codes = Tensor::uninitialized(ElementType::u8, {m, k});
    dynamic_quantize(x.data_as<float>(), m * k, q, codes.data_as<uint8_t>());
    acc = Tensor::uninitialized(ElementType::i32, {m, n});
    src = dnnl::memory(p->src_md, onednn::engine(), codes.data());
    dst = dnnl::memory(p->dst_md, onednn::engine(), acc.data());
  } else {
    centred = Tensor::uninitialized(ElementType::f32, {m, k});
    dynamic_quantize_centred(x.data_as<float>(), m * k, q, centred.data_as<float>());
    src = dnnl::memory(p->src_md, onednn::engine(), centred.data());
    dst = dnnl::memory(p->dst_md, onednn::engine(), y);
  }
  // 2. The product. Without VNNI oneDNN's int8 kernels add pairs of u8 * s8 products in 16 bits
  // with saturation (vpmaddubsw): exact for codes below 128 (2 * 127 * 128 < 2^15), so the codes
  // are multiplied as their low 7 bits and their top bit apart, acc = low + 128 * top.
  Tensor low, top, top_acc;
  if (p->halves) {
    low = Tensor::uninitialized(ElementType::u8, {m, k});
    top = Tensor::uninitialized(ElementType::u8, {m, k});
    const uint8_t* c = codes.data_as<uint8_t>();
    for (int64_t i = 0; i < m * k; ++i) {
      low.data_as<uint8_t>()[i] = static_cast<uint8_t>(c[i] & 127);
      top.data_as<uint8_t>()[i] = static_cast<uint8_t>(c[i] >> 7);
    }
    src = dnnl::memory(p->src_md, onednn::engine(), low.data());
    top_acc = Tensor::uninitialized(ElementType::i32, {m, n});
  }
  try {
    dnnl::stream& stream = onednn::thread_stream();
    dnnl::memory scratchpad = onednn::scratch_memory(p->scratchpad_md, onednn::Scratch::scratchpad);
    p->primitive.execute(stream, {{DNNL_ARG_SRC, src},
                                  {DNNL_ARG_WEIGHTS, p->weights},
                                  {DNNL_ARG_DST, dst},
                                  {DNNL_ARG_SCRATCHPAD, scratchpad}});
    if (p->halves)
      p->primitive.execute(
          stream, {{DNNL_ARG_SRC, dnnl::memory(p->src_md, onednn::engine(), top.data())},
                   {DNNL_ARG_WEIGHTS, p->weights},
                   {DNNL_ARG_DST, dnnl::memory(p->dst_md, onednn::engine(), top_acc.data())},
                   {DNNL_ARG_SCRATCHPAD, scratchpad}});
    stream.wait();
  } catch (const dnnl::error& e) {
    ctx.fail(ErrorCategory::internal, "oneDNN int8 matrix product failed for {} x {}: {}",
             to_string(x.shape()), to_string(w.shape()), e.what());
  }
  if (p->halves) {
    int32_t* a = acc.data_as<int32_t>();
    const int32_t* ta = top_acc.data_as<int32_t>();
    for (int64_t i = 0; i < m * n; ++i) a[i] += 128 * ta[i];
  }
  // 3. The integers ONNX defines, scaled as the model's Mul does (x's scale times the column's,
  // rounded to float first), plus the bias.
  parallel_for(m, m * n >= 4096, [&](int64_t r) {
    float* yr = y + r * n;
    int64_t centred_sum = 0;
    if (p->int8) {
      const uint8_t* qr = codes.data_as<uint8_t>() + r * k;
      centred_sum = std::accumulate(qr, qr + k, int64_t{0}) - k * zx;
    }
    for (int64_t c = 0; c < n; ++c) {
      float v = yr[c];
      if (p->int8) {
        const int64_t exact = int64_t{acc.data_as<int32_t>()[r * n + c]} -
                              int64_t{zx} * p->column_sums[c] +
                              static_cast<int64_t>(corr[c]) * centred_sum;
        v = static_cast<float>(static_cast<int32_t>(exact));
      }
      v *= q.scale * ws[c];
      yr[c] = b ? v + b[c] : v;
    }
  });
  ctx.set_output(0, out);
}

}  // namespace

void register_dynamic_quant_matmul_ops(KernelRegistry& r) {
  r.add("DynamicQuantMatMul", op_dynamic_quant_matmul, kCpuDomain);
}

}  // namespace sinter::cpu
