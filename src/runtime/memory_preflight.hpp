// Memory preflight: before a model's large allocations, compare what it will need with what the
// device can give (docs/model-cache.md#memory). Too much is an out_of_memory error that gives both
// numbers and what to do; an amount that would push the host into swap is a warning.
//
//   preflight({weights, io}, budget_for(device, config), "model.onnx");
#pragma once

#include <cstdint>
#include <string>

#include "sinter/config.hpp"
#include "sinter/core.hpp"

namespace sinter::runtime {

struct MemoryBudget {
  int64_t bytes = 0;       // what may be used
  std::string limited_by;  // "memory_limit from --memory-limit", "available host memory", ...
  int64_t swap_free_bytes = 0;
};

// The memory_limit setting when it is set, else what the device reports as available.
MemoryBudget budget_for(const DeviceInfo& device, const Config& config);

// Raises out_of_memory when `need` exceeds the budget; warns when it leaves the host less than
// 5% of its memory free (the next allocations would swap). `what` names the model and phase.
void preflight(int64_t need, const std::string& breakdown, const MemoryBudget& budget,
               const std::string& what);

}  // namespace sinter::runtime
