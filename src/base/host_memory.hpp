// What the host can give us: physical memory and what is available now, bounded by the cgroup
// memory limit when the process runs in one (containers, CI runners).
//
//   HostMemory m = host_memory();
//   if (need > m.available_bytes) ...
#pragma once

#include <cstdint>
#include <string>

namespace sinter {

struct HostMemory {
  int64_t total_bytes = 0;      // min(MemTotal, cgroup limit)
  int64_t available_bytes = 0;  // min(MemAvailable, cgroup limit - cgroup usage)
  int64_t swap_free_bytes = 0;
  std::string limited_by;  // "cgroup" when the cgroup limit is the binding one, else "host"
};

HostMemory host_memory();

// peak_rss_bytes() is declared in the public sinter/core.hpp.

}  // namespace sinter
