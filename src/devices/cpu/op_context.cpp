#include "devices/cpu/op_context.hpp"

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"

namespace sinter::cpu {

const Value& OpContext::input_value(std::size_t i) const {
  if (!has_input(i)) {
    fail(ErrorCategory::invalid_model, "required input #{} is missing", i);
  }
  return *inputs_[i];
}

const Tensor& OpContext::input(std::size_t i) const {
  const Value& v = input_value(i);
  if (!v.is_tensor()) {
    fail(ErrorCategory::invalid_argument, "input #{} ('{}') must be a tensor", i, node_.inputs[i]);
  }
  return v.tensor();
}

const ir::Attribute& OpContext::attr(const std::string& name) const {
  const ir::Attribute* a = node_.find(name);
  if (!a) fail(ErrorCategory::invalid_model, "required attribute '{}' is missing", name);
  return *a;
}

int64_t OpContext::attr_i(const std::string& name, int64_t fallback) const {
  return node_.attr_int(name, fallback);
}

float OpContext::attr_f(const std::string& name, float fallback) const {
  return node_.attr_float(name, fallback);
}

std::string OpContext::attr_s(const std::string& name, const std::string& fallback) const {
  return node_.attr_string(name, fallback);
}

std::vector<int64_t> OpContext::attr_ints(const std::string& name,
                                          std::vector<int64_t> fallback) const {
  return node_.attr_ints(name, std::move(fallback));
}

std::vector<float> OpContext::attr_floats(const std::string& name,
                                          std::vector<float> fallback) const {
  const ir::Attribute* a = node_.find(name);
  return a ? a->floats : fallback;
}

const ir::Graph& OpContext::attr_graph(const std::string& name) const {
  const ir::Attribute& a = attr(name);
  if (!a.g) fail(ErrorCategory::invalid_model, "attribute '{}' must be a graph", name);
  return *a.g;
}

void unsupported_type(const OpContext& ctx, ElementType type) {
  ctx.fail(ErrorCategory::unsupported_op, "element type {} is not supported by this operator",
           to_string(type));
}

const KernelRegistry& KernelRegistry::instance() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_elementwise_ops(r);
    register_activation_ops(r);
    register_reduce_ops(r);
    register_shape_ops(r);
    register_index_ops(r);
    register_nn_ops(r);
    register_norm_ops(r);
    register_pool_ops(r);
    register_rnn_ops(r);
    register_quant_ops(r);
    register_control_ops(r);
    register_sequence_ops(r);
    register_linalg_ops(r);
    register_detection_ops(r);
    register_grid_sample_ops(r);
    register_image_ops(r);
    register_signal_ops(r);
    register_loss_ops(r);
    register_fused_conv_ops(r);
    register_fused_conv_transpose_ops(r);
    register_dynamic_quant_conv_ops(r);
    register_dynamic_quant_matmul_ops(r);
    register_fused_norm_ops(r);
    register_fused_attention_ops(r);
    register_channels_last_ops(r);
    register_squeeze_excite_ops(r);
    register_fused_activation_ops(r);
    register_fused_matmul_ops(r);
    return r;
  }();
  return registry;
}

Kernel KernelRegistry::find(const std::string& domain, const std::string& op_type) const {
  auto it = kernels_.find({domain, op_type});
  return it == kernels_.end() ? nullptr : it->second;
}

}  // namespace sinter::cpu
