#include "devices/cpu/onednn_util.hpp"

namespace sinter::cpu::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory::desc plain_f32(const Shape& shape) {
  dnnl::memory::dims dims(shape.begin(), shape.end());
  if (dims.empty()) dims = {1};
  dnnl::memory::dims strides(dims.size(), 1);
  for (std::size_t i = dims.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * dims[i];
  return {dims, dnnl::memory::data_type::f32, strides};
}

void execute(const dnnl::primitive& primitive,
             const std::unordered_map<int, std::pair<dnnl::memory::desc, const void*>>& args) {
  dnnl::stream stream(engine());
  std::unordered_map<int, dnnl::memory> memories;
  for (const auto& [arg, md_data] : args)
    memories.emplace(arg, dnnl::memory(md_data.first, engine(), const_cast<void*>(md_data.second)));
  primitive.execute(stream, memories);
  stream.wait();
}

dnnl::post_ops post_ops_of(const OpContext& ctx) {
  const ir::Node& n = ctx.node();
  const auto kinds = n.find("post_ops") ? n.find("post_ops")->strings : std::vector<std::string>{};
  const auto alpha = ctx.attr_floats("post_alpha"), beta = ctx.attr_floats("post_beta");
  ctx.check(alpha.size() == kinds.size() && beta.size() == kinds.size(),
            "post_ops, post_alpha and post_beta differ in length");
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
    } else if (kind == "hard_swish") {  // x * clip(x/6 + 1/2, 0, 1), as ONNX defines it
      ops.append_eltwise(1.f, alg::eltwise_hardswish, 0.f, 0.f);
    } else if (kind == "hard_sigmoid") {  // clip(alpha x + beta, 0, 1)
      ops.append_eltwise(1.f, alg::eltwise_linear, alpha[k], beta[k]);
      ops.append_eltwise(1.f, alg::eltwise_clip_v2, 0.f, 1.f);
    } else if (kind == "clip") {
      ops.append_eltwise(1.f, alg::eltwise_clip_v2, alpha[k], beta[k]);
    } else {
      ctx.fail(ErrorCategory::invalid_model, "unknown post-op '{}'", kind);
    }
  }
  return ops;
}

dnnl::primitive_attr fused_node_attr(const OpContext& ctx) {
  dnnl::primitive_attr attr;
  attr.set_post_ops(post_ops_of(ctx));
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

}  // namespace sinter::cpu::onednn
