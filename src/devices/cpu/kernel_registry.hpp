// Map from (domain, op_type) to the CPU kernel that runs it. Each ops_*.cpp file contributes
// its kernels through one register_*_ops function, called once when the registry is built.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "devices/cpu/op_context.hpp"

namespace sinter::cpu {

class KernelRegistry {
 public:
  static const KernelRegistry& instance();
  // nullptr when no kernel exists.
  Kernel find(const std::string& domain, const std::string& op_type) const;
  void add(const std::string& op_type, Kernel kernel, const std::string& domain = "") {
    kernels_[{domain, op_type}] = kernel;
  }

 private:
  std::map<std::pair<std::string, std::string>, Kernel> kernels_;
};

void register_elementwise_ops(KernelRegistry& r);
void register_activation_ops(KernelRegistry& r);
void register_reduce_ops(KernelRegistry& r);
void register_shape_ops(KernelRegistry& r);
void register_index_ops(KernelRegistry& r);
void register_nn_ops(KernelRegistry& r);
void register_norm_ops(KernelRegistry& r);
void register_pool_ops(KernelRegistry& r);
void register_rnn_ops(KernelRegistry& r);
void register_quant_ops(KernelRegistry& r);
void register_control_ops(KernelRegistry& r);
void register_sequence_ops(KernelRegistry& r);
void register_linalg_ops(KernelRegistry& r);
void register_detection_ops(KernelRegistry& r);
void register_grid_sample_ops(KernelRegistry& r);
void register_image_ops(KernelRegistry& r);
void register_signal_ops(KernelRegistry& r);
void register_loss_ops(KernelRegistry& r);
void register_fused_conv_ops(KernelRegistry& r);
void register_fused_conv_transpose_ops(KernelRegistry& r);
void register_dynamic_quant_conv_ops(KernelRegistry& r);
void register_dynamic_quant_matmul_ops(KernelRegistry& r);
void register_fused_norm_ops(KernelRegistry& r);
void register_fused_attention_ops(KernelRegistry& r);
void register_channels_last_ops(KernelRegistry& r);
void register_squeeze_excite_ops(KernelRegistry& r);
void register_fused_activation_ops(KernelRegistry& r);
void register_fused_matmul_ops(KernelRegistry& r);

}  // namespace sinter::cpu
