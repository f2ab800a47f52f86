#include "passes/simplify.hpp"

#include <unordered_set>

#include "passes/graph_rewrite.hpp"

namespace sinter::passes {

namespace {

bool is_pass_through(const ir::Node& n) {
  if (!n.domain.empty() || n.inputs.empty() || n.inputs[0].empty() || n.outputs.empty())
    return false;
  if (n.op_type == "Identity") return n.outputs.size() == 1;
  if (n.op_type == "Dropout") {
    // Inputs 1 (ratio) and 2 (training_mode) change nothing unless training_mode is given.
    const bool training_given = n.inputs.size() > 2 && !n.inputs[2].empty();
    const bool mask_wanted = n.outputs.size() > 1 && !n.outputs[1].empty();
    return !training_given && !mask_wanted;
  }
  return false;
}

}  // namespace

int remove_pass_through_nodes(ir::Graph& g) {
  std::unordered_set<std::string> fixed_sources;  // graph inputs and constants
  for (const auto& in : g.inputs) fixed_sources.insert(in.name);
  for (const auto& [name, _] : g.constants) fixed_sources.insert(name);
  std::vector<bool> removed(g.nodes.size(), false);
  int count = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (!is_pass_through(g.nodes[i])) continue;
    const std::string in = g.nodes[i].inputs[0], out = g.nodes[i].outputs[0];
    if (!is_graph_output(g, out)) {
      rename_reads(g, out, in);
    } else {
      // The producer of `in` produces `out` instead, unless `in` must keep its own name or is
      // produced outside this graph (a subgraph reading an outer value).
      if (fixed_sources.count(in) || is_graph_output(g, in)) continue;
      ir::Node* producer = nullptr;
      for (std::size_t j = 0; j < i; ++j)
        for (const auto& o : g.nodes[j].outputs)
          if (!removed[j] && o == in) producer = &g.nodes[j];
      if (!producer) continue;
      for (auto& o : producer->outputs)
        if (o == in) o = out;
      rename_reads(g, in, out);
    }
    removed[i] = true;
    ++count;
  }
  erase_nodes(g, removed);
  return count;
}

int remove_dead_nodes(ir::Graph& g) {
  int removed = 0;
  for (bool changed = true; changed;) {
    changed = false;
    const auto readers = readers_of(g);
    std::vector<ir::Node> kept;
    kept.reserve(g.nodes.size());
    for (auto& n : g.nodes) {
      bool live = false;
      for (const auto& o : n.outputs)
        if (!o.empty() && (readers.count(o) || is_graph_output(g, o))) live = true;
      if (live) {
        kept.push_back(std::move(n));
      } else {
        ++removed;
        changed = true;
      }
    }
    g.nodes = std::move(kept);
  }
  const auto readers = readers_of(g);
  for (auto it = g.constants.begin(); it != g.constants.end();) {
    if (!readers.count(it->first) && !is_graph_output(g, it->first))
      it = g.constants.erase(it);
    else
      ++it;
  }
  return removed;
}

}  // namespace sinter::passes
