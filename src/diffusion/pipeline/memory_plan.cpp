// MemoryPlan::describe and the per-stage estimates behind Pipeline::plan_memory.
#include <sinter/diffusion.hpp>

#include <cstdio>

namespace sinter::diffusion {

namespace {

std::string gib(int64_t bytes) {
  char buffer[32];
  if (bytes >= (int64_t{1} << 30))
    std::snprintf(buffer, sizeof buffer, "%.2f GiB", bytes / double(int64_t{1} << 30));
  else
    std::snprintf(buffer, sizeof buffer, "%.1f MiB", bytes / double(1 << 20));
  return buffer;
}

}  // namespace

std::string MemoryPlan::describe() const {
  std::string s;
  for (const Stage& stage : stages)
    s += (s.empty() ? "" : " + ") + stage.name + " " + gib(stage.weight_bytes) + " weights";
  int64_t largest = 0;
  std::string largest_name;
  for (const Stage& stage : stages)
    if (stage.activation_bytes > largest) {
      largest = stage.activation_bytes;
      largest_name = stage.name;
    }
  s += " + " + largest_name + " working memory " + gib(largest) + " = peak " + gib(peak_bytes);
  if (limit_bytes > 0) s += " of " + gib(limit_bytes) + " (" + limit_source + ")";
  return s;
}

}  // namespace sinter::diffusion
