// The device-independent optimisation pipeline devices run on their copy of a graph before
// compiling it. Each pass keeps the graph's meaning (outputs equal to rounding); what they did
// is counted for the compile log.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/graph.hpp"

namespace sinter::passes {

struct OptimizationReport {
  std::vector<std::pair<std::string, int>> applied;  // pass name, how many rewrites
  // "3 pass-through nodes removed, 53 BatchNormalization folded into Conv" ("" if nothing).
  std::string summary() const;
};

OptimizationReport optimize_graph(ir::Graph& graph);

}  // namespace sinter::passes
