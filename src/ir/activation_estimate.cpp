#include "ir/activation_estimate.hpp"

namespace sinter::ir {

ActivationEstimate estimate_activations(const Graph& graph, const ShapeInference& shapes) {
  ActivationEstimate estimate;
  const auto dying = values_dying_after(graph);
  LiveBytes live;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    // Weights stored as int8: their memory is the codes', counted with the weights; as values
    // they would all be live from the graph's start.
    if (dequantizes_constant_weights(graph, graph.nodes[i])) continue;
    for (const auto& name : graph.nodes[i].outputs) {
      if (name.empty()) continue;
      auto it = shapes.values.find(name);
      const int64_t bytes = it == shapes.values.end() ? -1 : it->second.byte_size();
      if (bytes < 0) {
        if (estimate.unsized_values++ == 0) estimate.first_unsized = name;
        continue;
      }
      live.add(name, bytes);
    }
    for (const auto& r : dying[i]) live.release(r);
  }
  estimate.peak_bytes = live.peak();
  return estimate;
}

}  // namespace sinter::ir
