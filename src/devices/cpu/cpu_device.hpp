// The CPU device: oneDNN for the heavy operators, plain C++ kernels for the rest, OpenMP threads.
#pragma once

#include <memory>

#include "devices/device.hpp"

namespace sinter::cpu {

std::unique_ptr<device::Device> make_cpu_device();

}  // namespace sinter::cpu
