#include "ir/activation_estimate.hpp"

#include <algorithm>
#include <unordered_set>

namespace sinter::ir {

ActivationEstimate estimate_activations(const Graph& graph, const ShapeInference& shapes) {
  ActivationEstimate estimate;
  const auto last_use = last_reads(graph);
  std::unordered_map<std::string, int64_t> live;
  int64_t live_bytes = 0;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    for (const auto& name : node.outputs) {
      if (name.empty()) continue;
      auto it = shapes.values.find(name);
      const int64_t bytes = it == shapes.values.end() ? -1 : it->second.byte_size();
      if (bytes < 0) {
        if (estimate.unsized_values++ == 0) estimate.first_unsized = name;
        continue;
      }
      live[name] = bytes;
      live_bytes += bytes;
    }
    estimate.peak_bytes = std::max(estimate.peak_bytes, live_bytes);
    std::unordered_set<std::string> reads;
    collect_reads(node, reads);
    for (const auto& r : reads) {
      auto last = last_use.find(r);
      if (last == last_use.end() || last->second != i) continue;
      if (auto l = live.find(r); l != live.end()) {
        live_bytes -= l->second;
        live.erase(l);
      }
    }
  }
  return estimate;
}

}  // namespace sinter::ir
