#include "devices/cpu/kernel_registry.hpp"

namespace sinter::cpu {

void register_activation_ops(KernelRegistry&) {}

}  // namespace sinter::cpu
