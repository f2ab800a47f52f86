// AUTO's execution: the device AUTO chose, with the CPU behind it. Built only on the device
// interface (the runtime decides which device was chosen and whether its compile is cached).
//
// Startup fallback: when the chosen device has nothing cached for the model, the CPU compiles
// (fast) and serves the first inferences while the chosen device compiles on another thread;
// the first inference after that compile finished runs on the chosen device.
// Runtime fallback: an inference that fails on the chosen device (out of device memory, a
// driver error, ...; not bad inputs) runs again on the CPU, with one warning per compiled model.
#pragma once

#include <functional>
#include <memory>

#include "devices/device.hpp"

namespace sinter::autoselect {

struct AutoOptions {
  bool startup_fallback = false;  // the chosen device has no cache entry for this model
  bool runtime_fallback = true;
  // Called on the compiling thread once the chosen device's background compile succeeded
  // (the runtime records the cache entry then).
  std::function<void()> on_ready;
};

// `cpu` may be null (AUTO was told to leave the CPU out): then there is no fallback at all.
std::unique_ptr<device::Device> make_auto_device(std::shared_ptr<const device::Device> chosen,
                                                 std::shared_ptr<const device::Device> cpu,
                                                 AutoOptions options);

}  // namespace sinter::autoselect
