// Finds the OpenCL devices sinter can use as GPU.N, in the documented order: integrated GPUs
// first, then discrete ones in PCI bus order; OpenCL devices of CPU type (PoCL) only when
// SINTER_OPENCL_CPU=1, after the real GPUs, typed "opencl-cpu".
#pragma once

#include <string>
#include <vector>

#include "devices/gpu/opencl.hpp"
#include "sinter/core.hpp"

namespace sinter::gpu {

struct FoundDevice {
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  DeviceInfo info;  // named GPU.N
  bool fp16 = false;
};

// No OpenCL platform, or none with a usable device: an empty list and a debug line saying why.
std::vector<FoundDevice> find_opencl_devices();

}  // namespace sinter::gpu
