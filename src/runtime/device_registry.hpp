// The devices of this machine and how a parsed device name (device_name.hpp) resolves to one of
// them. GPUs are numbered integrated first, then discrete in PCI order (docs/devices.md).
//
//   const DeviceRegistry& reg = DeviceRegistry::instance();
//   Resolution r = reg.resolve(parse_device_name("AUTO"));
//   r.device->compile(graph);
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "runtime/device_name.hpp"

namespace sinter::runtime {

struct ResolveOptions {
  std::string hetero_policy = "first";  // setting hetero_policy: "first" or "memory"
  std::string precision = "f32";        // setting precision: AUTO passes over the CPU unless f32
};

struct Resolution {
  std::shared_ptr<const device::Device> device;
  // AUTO only: the CPU, when it is a candidate and not the chosen device (startup and runtime
  // fallback run on it).
  std::shared_ptr<const device::Device> fallback;
  DeviceInfo info;
  std::string why;  // how the request became this device, for the compile log line
};

class DeviceRegistry {
 public:
  // Enumerates once per process.
  static const DeviceRegistry& instance();

  // Every device. GPUs are enumerated on first need (loading OpenCL drivers takes a while), so
  // a run on the CPU never pays for it.
  const std::vector<std::shared_ptr<const device::Device>>& devices() const;
  std::vector<DeviceInfo> infos() const;

  // A simple name ("CPU", "GPU.1") -> device; nullptr when absent.
  std::shared_ptr<const device::Device> find(const std::string& canonical_name) const;

  // Resolves a request to one device (HETERO: a virtual device over the listed ones). Raises
  // device_not_found with the list of available devices when a named device is absent.
  Resolution resolve(const DeviceRequest& request, const ir::Graph* graph = nullptr,
                     const ResolveOptions& options = {}) const;

  // "  CPU    Intel(R) Xeon(R) ... (cpu)" lines, one per device.
  std::string describe_devices() const;

 private:
  DeviceRegistry();  // the CPU only; see devices()
  std::shared_ptr<const device::Device> cpu_;
  mutable std::vector<std::shared_ptr<const device::Device>> devices_;
  mutable std::once_flag gpus_found_;
};

}  // namespace sinter::runtime
