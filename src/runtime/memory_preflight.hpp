// Memory preflight: before a model's large allocations, compare what it will need with what the
// device can give (docs/model-cache.md#memory). Too much is an out_of_memory error that gives both
// numbers and what to do; an amount that would push the host into swap is a warning.
//
//   const MemoryEstimate need = plan_memory(graph, weight_bytes, input_shapes);
//   preflight(need.total_bytes(), need.describe(), budget_for(device, config), "'m.onnx' on CPU");
#pragma once

#include <cstdint>
#include <string>

#include "ir/graph.hpp"
#include "sinter/config.hpp"
#include "sinter/core.hpp"

namespace sinter::runtime {

struct MemoryBudget {
  int64_t bytes = 0;       // what may be used
  std::string limited_by;  // "memory_limit from --memory-limit", "available host memory", ...
  int64_t swap_free_bytes = 0;
};

// Input shapes as compiled: the declared dims (-1 where dynamic), overridden by `given`. A name
// in `given` that is not a graph input is an invalid_argument error.
std::map<std::string, Shape> effective_input_shapes(const ir::Graph& graph,
                                                    const std::map<std::string, Shape>& given);

// Weights + inputs + the planned peak of intermediate values (ir/activation_estimate.hpp).
MemoryEstimate plan_memory(const ir::Graph& graph, int64_t weight_bytes,
                           const std::map<std::string, Shape>& input_shapes);

// The memory_limit setting when it is set, else what the device reports as available.
MemoryBudget budget_for(const DeviceInfo& device, const Config& config);

// Before a compile: what the CPU's weights setting (f16, int8) will save on the f32 weights of
// convolutions and matrix products (their input 1 when constant), as a negative
// packed_weight_bytes; 0 for f32.
int64_t compressed_weight_delta(const ir::Graph& graph, const std::string& weights);

// Raises out_of_memory when `need` exceeds the budget; warns when it leaves the host less than
// 5% of its memory free (the next allocations would swap). `what` names the model and phase.
void preflight(int64_t need, const std::string& breakdown, const MemoryBudget& budget,
               const std::string& what);

}  // namespace sinter::runtime
