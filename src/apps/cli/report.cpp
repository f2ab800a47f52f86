#include "apps/cli/report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace sinter_cli {

void print_placement(const sinter::CompiledModel& compiled) {
  std::map<std::string, std::map<std::string, int>> by_device;
  for (const auto& n : compiled.node_placement()) ++by_device[n.device][n.implementation];
  for (const auto& [device, impls] : by_device) {
    int total = 0;
    std::vector<std::pair<int, std::string>> sorted;
    for (const auto& [impl, count] : impls) {
      total += count;
      sorted.emplace_back(count, impl);
    }
    std::sort(sorted.rbegin(), sorted.rend());
    std::string detail;
    for (const auto& [count, impl] : sorted)
      detail += (detail.empty() ? "" : ", ") + impl + " " + std::to_string(count);
    std::printf("placement: %s %d nodes (%s)\n", device.c_str(), total, detail.c_str());
  }
  const auto subgraphs = compiled.subgraph_devices();
  if (subgraphs.size() > 1) {
    std::string chain;
    for (const auto& d : subgraphs) chain += (chain.empty() ? "" : " -> ") + d;
    std::printf("partition: %zu subgraphs, run in this order: %s\n", subgraphs.size(),
                chain.c_str());
  }
  std::printf("precision: %s\n", compiled.precision().c_str());
}

void print_profile(const std::vector<sinter::NodeReport>& nodes, double inference_ms, int top) {
  std::map<std::string, double> busy;
  for (const auto& n : nodes) busy[n.device] += n.ms;
  for (const auto& [device, ms] : busy) {
    std::printf("%s busy %.2f ms of %.2f ms per inference\n", device.c_str(), ms, inference_ms);
  }
  std::vector<sinter::NodeReport> sorted = nodes;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.ms > b.ms; });
  std::printf("%9s %6s  %-32s %-20s %s\n", "ms", "%", "node", "op", "device / implementation");
  for (int i = 0; i < top && i < static_cast<int>(sorted.size()); ++i) {
    const auto& n = sorted[i];
    std::printf("%9.3f %5.1f%%  %-32s %-20s %s / %s\n", n.ms,
                inference_ms > 0 ? 100.0 * n.ms / inference_ms : 0.0, n.node.substr(0, 32).c_str(),
                n.op.c_str(), n.device.c_str(), n.implementation.c_str());
  }
}

}  // namespace sinter_cli
