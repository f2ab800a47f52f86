#include "devices/cpu/kernel_registry.hpp"

namespace sinter::cpu {

void register_misc_ops(KernelRegistry&) {}

}  // namespace sinter::cpu
