// The GPU device: OpenCL kernels (kernels/*.cl, embedded at build time) run a graph node by node
// on one OpenCL device. Shapes are planned per set of input shapes by static shape inference;
// shape arithmetic whose values follow from the shapes is folded on the host.
#pragma once

#include <memory>
#include <vector>

#include "devices/device.hpp"

namespace sinter::gpu {

// One device per usable OpenCL device (see gpu_enumeration.hpp); empty when there is none.
std::vector<std::unique_ptr<device::Device>> make_gpu_devices();

}  // namespace sinter::gpu
