#include "passes/optimize.hpp"

#include "passes/fold_batch_norm.hpp"
#include "passes/simplify.hpp"

namespace sinter::passes {

std::string OptimizationReport::summary() const {
  std::string out;
  for (const auto& [what, count] : applied) {
    if (count == 0) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(count) + " " + what;
  }
  return out;
}

OptimizationReport optimize_graph(ir::Graph& graph) {
  OptimizationReport report;
  report.applied.emplace_back("pass-through nodes removed", remove_pass_through_nodes(graph));
  report.applied.emplace_back("BatchNormalization folded into Conv",
                              fold_batch_norm_into_conv(graph));
  report.applied.emplace_back("unused nodes removed", remove_dead_nodes(graph));
  return report;
}

}  // namespace sinter::passes
