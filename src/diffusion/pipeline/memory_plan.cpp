// MemoryPlan::describe and the per-stage estimates behind Pipeline::plan_memory.
#include <sinter/diffusion.hpp>

#include <algorithm>
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
  std::string s = process_bytes > 0 ? "this process " + gib(process_bytes) : "";
  for (const Stage& stage : stages)
    s += (s.empty() ? "" : " + ") + stage.name + " " + gib(stage.weight_bytes) + " weights" +
         (stage.released_after_use ? " (let go once it has run: not held by later stages)" : "");
  // Each stage's working memory is given back before the next stage runs: the largest counts.
  int64_t working = 0;
  std::string parts;
  for (const Stage& stage : stages) {
    working = std::max(working, stage.activation_bytes);
    parts += (parts.empty() ? "" : ", ") + stage.name + " " + gib(stage.activation_bytes);
  }
  s += " + working memory " + gib(working) + " (the largest of " + parts +
       "; each stage's is given back when it is done) = peak " + gib(peak_bytes);
  if (limit_bytes > 0) s += " of " + gib(limit_bytes) + " (" + limit_source + ")";
  return s;
}

}  // namespace sinter::diffusion
