#include "runtime/memory_preflight.hpp"

#include "base/errors.hpp"
#include "base/host_memory.hpp"
#include "base/logging.hpp"

namespace sinter::runtime {

namespace {

std::string mib(int64_t bytes) {
  return fmt::format("{:.1f} MiB", double(bytes) / 1048576.0);
}

}  // namespace

MemoryBudget budget_for(const DeviceInfo& device, const Config& config) {
  MemoryBudget b;
  b.swap_free_bytes = host_memory().swap_free_bytes;
  const int64_t limit = config.memory_limit_bytes();
  if (limit > 0) {
    b.bytes = limit;
    b.limited_by = "memory_limit from " + config.setting("memory_limit").source;
  } else {
    b.bytes = device.memory_available_bytes;
    b.limited_by = "available memory of " + device.name;
  }
  return b;
}

void preflight(int64_t need, const std::string& breakdown, const MemoryBudget& budget,
               const std::string& what) {
  if (budget.bytes <= 0) return;  // nothing known to compare with
  if (need > budget.bytes) {
    raise(ErrorCategory::out_of_memory,
          "{} needs about {} ({}) but {} is {}; nothing was allocated. Free memory, raise the "
          "limit (--memory-limit / SINTER_MEMORY_LIMIT), or use a smaller model or input size",
          what, mib(need), breakdown, budget.limited_by, mib(budget.bytes));
  }
  if (need > budget.bytes * 95 / 100 && budget.swap_free_bytes > 0) {
    log().warn("{} needs about {} of the {} left ({}): the system may start swapping", what,
               mib(need), mib(budget.bytes), budget.limited_by);
  }
}

}  // namespace sinter::runtime
