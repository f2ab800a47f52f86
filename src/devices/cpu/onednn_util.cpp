#include "devices/cpu/onednn_util.hpp"

#include <array>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "base/large_blocks.hpp"

namespace sinter::cpu::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory::desc plain(const Shape& shape, dnnl::memory::data_type type) {
  dnnl::memory::dims dims(shape.begin(), shape.end());
  if (dims.empty()) dims = {1};
  dnnl::memory::dims strides(dims.size(), 1);
  for (std::size_t i = dims.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * dims[i];
  return {dims, type, strides};
}

dnnl::memory::desc plain_f32(const Shape& shape) {
  return plain(shape, dnnl::memory::data_type::f32);
}

dnnl::memory::desc activation(const dnnl::memory::dims& dims, const std::string& layout,
                              dnnl::memory::data_type type) {
  using tag = dnnl::memory::format_tag;
  const std::size_t rank = dims.size();
  tag t = tag::undef;
  if (rank >= 3 && rank <= 5) {
    const std::size_t i = rank - 3;
    if (layout == kChannelsLast) t = std::array{tag::acb, tag::acdb, tag::acdeb}[i];
    if (layout == kBlocked16) t = std::array{tag::nCw16c, tag::nChw16c, tag::nCdhw16c}[i];
    if (layout == kBlocked8) t = std::array{tag::nCw8c, tag::nChw8c, tag::nCdhw8c}[i];
  }
  if (t == tag::undef) return plain(Shape(dims.begin(), dims.end()), type);
  return {dims, type, t};
}

const std::string& preferred_conv_layout() {
  static const std::string layout = [] {
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    const dnnl::memory::dims src = {1, 64, 56, 56}, weights = {64, 64, 3, 3};
    try {
      const dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          {src, dt::f32, tag::any}, {weights, dt::f32, tag::any}, {src, dt::f32, tag::any}, {1, 1},
          {1, 1}, {1, 1});
      const dnnl::convolution_forward::primitive_desc pd(desc, engine());
      for (const char* candidate : {kChannelsLast, kBlocked16, kBlocked8})
        if (pd.src_desc() == activation(src, candidate)) return std::string(candidate);
    } catch (const dnnl::error&) {
      // No convolution for this CPU at all: plain tensors, and every Conv reports its error.
    }
    return std::string();
  }();
  return layout;
}

bool exact_int8_products() {
  using isa = dnnl::cpu_isa;
  const isa effective = dnnl::get_effective_cpu_isa();
  return effective == isa::avx2_vnni || effective == isa::avx512_core_vnni ||
         effective == isa::avx512_core_bf16 || effective == isa::avx512_core_amx;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(engine());
  return stream;
}

dnnl::memory scratch_memory(const dnnl::memory::desc& md, Scratch purpose) {
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    std::size_t capacity = 0;
  };
  thread_local std::array<Buffer, 5> buffers;
  const std::size_t bytes = md.get_size();
  if (bytes > kMaxKeptScratchBytes) return dnnl::memory(md, engine());  // oneDNN allocates
  Buffer& b = buffers[static_cast<std::size_t>(purpose)];
  if (b.capacity < bytes) {
    const std::size_t rounded = (bytes + 4095) / 4096 * 4096;
    b.data.reset(sinter::allocate_block(rounded));
    b.capacity = b.data ? rounded : 0;
    if (!b.data) throw dnnl::error(dnnl_out_of_memory, "cannot allocate scratch memory");
  }
  return dnnl::memory(md, engine(), b.data.get());
}

dnnl::memory scratch_memory(const dnnl::memory::desc& md, Scratch purpose, Tensor& holder) {
  const std::size_t bytes = md.get_size();
  if (bytes <= kMaxKeptScratchBytes) return scratch_memory(md, purpose);
  holder = Tensor::uninitialized(ElementType::u8, {static_cast<int64_t>(bytes)});
  return dnnl::memory(md, engine(), holder.data());
}

void execute(const dnnl::primitive& primitive,
             const std::unordered_map<int, std::pair<dnnl::memory::desc, const void*>>& args) {
  dnnl::stream& stream = thread_stream();
  std::unordered_map<int, dnnl::memory> memories;
  for (const auto& [arg, md_data] : args)
    memories.emplace(arg, dnnl::memory(md_data.first, engine(), const_cast<void*>(md_data.second)));
  primitive.execute(stream, memories);
  stream.wait();
}

dnnl::post_ops post_ops_of(const ir::Node& n) {
  const auto kinds = n.find("post_ops") ? n.find("post_ops")->strings : std::vector<std::string>{};
  const auto alpha = n.find("post_alpha") ? n.find("post_alpha")->floats : std::vector<float>{};
  const auto beta = n.find("post_beta") ? n.find("post_beta")->floats : std::vector<float>{};
  if (alpha.size() != kinds.size() || beta.size() != kinds.size())
    throw std::invalid_argument("post_ops, post_alpha and post_beta differ in length");
  dnnl::post_ops ops;
  using alg = dnnl::algorithm;
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    const std::string& kind = kinds[k];
    if (kind == "sum") {
      ops.append_sum(1.f);
    } else if (kind == "relu") {
      ops.append_eltwise(1.f, alg::eltwise_relu, 0.f, 0.f);
    } else if (kind == "leaky_relu") {
      ops.append_eltwise(1.f, alg::eltwise_relu, alpha[k], 0.f);
    } else if (kind == "elu") {
      ops.append_eltwise(1.f, alg::eltwise_elu, alpha[k], 0.f);
    } else if (kind == "sigmoid") {
      ops.append_eltwise(1.f, alg::eltwise_logistic, 0.f, 0.f);
    } else if (kind == "tanh") {
      ops.append_eltwise(1.f, alg::eltwise_tanh, 0.f, 0.f);
    } else if (kind == "swish") {  // x * sigmoid(alpha x)
      ops.append_eltwise(1.f, alg::eltwise_swish, alpha[k], 0.f);
    } else if (kind == "gelu_erf") {
      ops.append_eltwise(1.f, alg::eltwise_gelu_erf, 0.f, 0.f);
    } else if (kind == "gelu_tanh") {
      ops.append_eltwise(1.f, alg::eltwise_gelu_tanh, 0.f, 0.f);
    } else if (kind == "hard_swish") {  // x * clip(x/6 + 1/2, 0, 1), as ONNX defines it
      ops.append_eltwise(1.f, alg::eltwise_hardswish, 0.f, 0.f);
    } else if (kind == "hard_sigmoid") {  // clip(alpha x + beta, 0, 1)
      ops.append_eltwise(1.f, alg::eltwise_linear, alpha[k], beta[k]);
      ops.append_eltwise(1.f, alg::eltwise_clip_v2, 0.f, 1.f);
    } else if (kind == "linear") {  // alpha x + beta
      ops.append_eltwise(1.f, alg::eltwise_linear, alpha[k], beta[k]);
    } else if (kind == "clip") {
      ops.append_eltwise(1.f, alg::eltwise_clip_v2, alpha[k], beta[k]);
    } else {
      throw std::invalid_argument("unknown post-op '" + kind + "'");
    }
  }
  return ops;
}

dnnl::primitive_attr fused_node_attr(const ir::Node& n) {
  dnnl::primitive_attr attr;
  attr.set_post_ops(post_ops_of(n));
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::primitive_attr fused_node_attr(const OpContext& ctx) {
  try {
    return fused_node_attr(ctx.node());
  } catch (const std::invalid_argument& e) {
    ctx.fail(ErrorCategory::invalid_model, "{}", e.what());
  }
}

}  // namespace sinter::cpu::onednn
