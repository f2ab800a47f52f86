#include "base/host_memory.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "sinter/core.hpp"

namespace sinter {

namespace {

// "Key:   12345 kB" lines of /proc/meminfo or /proc/self/status, in bytes; -1 when absent.
int64_t proc_kb_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    int64_t kb = -1;
    fields >> kb;
    return kb < 0 ? -1 : kb * 1024;
  }
  return -1;
}

// A number in a cgroup file; -1 when absent or "max" (no limit).
int64_t cgroup_number(const char* file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text == "max") return -1;
  try {
    const long long v = std::stoll(text);
    // cgroup v1 writes a huge page-rounded number for "no limit".
    return v >= (int64_t{1} << 60) ? -1 : static_cast<int64_t>(v);
  } catch (...) {
    return -1;
  }
}

}  // namespace

HostMemory host_memory() {
  HostMemory m;
  m.total_bytes = std::max<int64_t>(0, proc_kb_field("/proc/meminfo", "MemTotal"));
  m.available_bytes = std::max<int64_t>(0, proc_kb_field("/proc/meminfo", "MemAvailable"));
  m.swap_free_bytes = std::max<int64_t>(0, proc_kb_field("/proc/meminfo", "SwapFree"));
  m.limited_by = "host";
  // cgroup v2, then v1.
  int64_t limit = cgroup_number("/sys/fs/cgroup/memory.max");
  int64_t usage = cgroup_number("/sys/fs/cgroup/memory.current");
  if (limit < 0) {
    limit = cgroup_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    usage = cgroup_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  if (limit > 0 && limit < m.total_bytes) {
    m.total_bytes = limit;
    m.limited_by = "cgroup";
  }
  if (limit > 0 && usage >= 0) {
    const int64_t cgroup_free = std::max<int64_t>(0, limit - usage);
    if (cgroup_free < m.available_bytes) {
      m.available_bytes = cgroup_free;
      m.limited_by = "cgroup";
    }
  }
  return m;
}

int64_t peak_rss_bytes() {
  return std::max<int64_t>(0, proc_kb_field("/proc/self/status", "VmHWM"));
}

int64_t resident_bytes() {
  return std::max<int64_t>(0, proc_kb_field("/proc/self/status", "VmRSS"));
}

}  // namespace sinter
