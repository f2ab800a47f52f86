#include "ir/partition.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "base/errors.hpp"

namespace sinter::ir {

namespace {

// What each top-level node reads that a top-level node produces (by producer index), and the
// constants it reads.
struct Dependencies {
  std::vector<std::vector<std::size_t>> producers;
  std::vector<std::vector<std::string>> constants;
};

Dependencies dependencies(const Graph& graph) {
  std::unordered_map<std::string, std::size_t> producer;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& o : graph.nodes[i].outputs)
      if (!o.empty()) producer[o] = i;
  Dependencies d;
  d.producers.resize(graph.nodes.size());
  d.constants.resize(graph.nodes.size());
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    std::unordered_set<std::string> reads;
    collect_reads(graph.nodes[i], reads);
    std::set<std::size_t> from;
    for (const auto& r : reads) {
      if (auto it = producer.find(r); it != producer.end() && it->second < i)
        from.insert(it->second);
      else if (graph.constants.count(r))
        d.constants[i].push_back(r);
    }
    d.producers[i].assign(from.begin(), from.end());
    std::sort(d.constants[i].begin(), d.constants[i].end());
  }
  return d;
}

// First supporting device; with weight budgets, devices fill up in order and a device that is
// full takes no more nodes.
std::vector<int> place(const Graph& graph, const std::vector<std::vector<bool>>& supported,
                       const Dependencies& deps, const PartitionOptions& options) {
  const int devices = static_cast<int>(supported.size());
  std::vector<int> where(graph.nodes.size(), -1);
  std::vector<int64_t> used(devices, 0);
  std::set<std::string> held;  // constants already counted on the device that first read them
  int first_open = 0;          // with budgets: devices before this one are full
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    int64_t weights = 0;
    for (const auto& c : deps.constants[n])
      if (!held.count(c)) weights += static_cast<int64_t>(graph.constants.at(c).byte_size());
    for (int d = options.weight_budget.empty() ? 0 : first_open; d < devices; ++d) {
      if (!supported[d][n]) continue;
      const bool limited = static_cast<std::size_t>(d) < options.weight_budget.size();
      if (limited && used[d] + weights > options.weight_budget[d]) {
        if (d == first_open) ++first_open;  // full: the rest of the model goes further down
        continue;
      }
      where[n] = d;
      used[d] += weights;
      for (const auto& c : deps.constants[n]) held.insert(c);
      break;
    }
    if (where[n] < 0) {
      bool anyone = false;
      for (int d = 0; d < devices; ++d) anyone = anyone || supported[d][n];
      if (anyone)
        raise(ErrorCategory::out_of_memory,
              "{}: no listed device that supports it has room left for its weights ({} bytes) "
              "under the memory policy",
              graph.nodes[n].label(), weights);
      raise(ErrorCategory::unsupported_op, "{}: no listed device supports it",
            graph.nodes[n].label());
    }
  }
  return where;
}

// Nodes in graph order, each into the earliest subgraph of its device that comes after every
// subgraph holding one of its producers. Returns each node's subgraph.
std::vector<Subgraph> group(const std::vector<int>& where, const Dependencies& deps,
                            std::vector<std::size_t>& node_subgraph) {
  std::vector<Subgraph> subgraphs;
  node_subgraph.assign(where.size(), 0);
  for (std::size_t n = 0; n < where.size(); ++n) {
    std::size_t earliest = 0;
    for (std::size_t p : deps.producers[n]) earliest = std::max(earliest, node_subgraph[p]);
    std::size_t chosen = subgraphs.size();
    for (std::size_t s = earliest; s < subgraphs.size(); ++s) {
      if (subgraphs[s].device == where[n]) {
        chosen = s;
        break;
      }
    }
    if (chosen == subgraphs.size()) {
      subgraphs.emplace_back();
      subgraphs.back().device = where[n];
    }
    subgraphs[chosen].nodes.push_back(n);
    node_subgraph[n] = chosen;
  }
  return subgraphs;
}

// A short run between two subgraphs of one device that can run all of it moves to that device;
// so does a short first or last subgraph next to a larger one whose device can run it (a few
// reshapes after the last CPU node are not worth two transfers). Moves one run per call.
bool absorb_islands(std::vector<int>& where, const std::vector<Subgraph>& subgraphs,
                    const std::vector<std::vector<bool>>& supported,
                    const PartitionOptions& options) {
  if (!options.weight_budget.empty()) return false;  // the memory policy placed them on purpose
  auto try_move = [&](std::size_t s, int to) {
    const auto& nodes = subgraphs[s].nodes;
    if (nodes.size() > options.island_nodes ||
        !std::all_of(nodes.begin(), nodes.end(), [&](std::size_t n) { return supported[to][n]; }))
      return false;
    for (std::size_t n : nodes) where[n] = to;
    return true;
  };
  for (std::size_t s = 1; s + 1 < subgraphs.size(); ++s)
    if (subgraphs[s - 1].device == subgraphs[s + 1].device && try_move(s, subgraphs[s - 1].device))
      return true;
  const std::size_t last = subgraphs.size() - 1;
  if (subgraphs.size() >= 2) {
    if (subgraphs[last].nodes.size() < subgraphs[last - 1].nodes.size() &&
        try_move(last, subgraphs[last - 1].device))
      return true;
    if (subgraphs[0].nodes.size() < subgraphs[1].nodes.size() && try_move(0, subgraphs[1].device))
      return true;
  }
  return false;
}

}  // namespace

Partition partition_graph(const Graph& graph, const std::vector<std::vector<bool>>& supported,
                          const PartitionOptions& options) {
  SINTER_CHECK(!supported.empty(), internal, "partition_graph: no devices");
  for (const auto& s : supported)
    SINTER_CHECK(s.size() == graph.nodes.size(), internal,
                 "partition_graph: {} support entries for {} nodes", s.size(), graph.nodes.size());
  const Dependencies deps = dependencies(graph);
  Partition p;
  p.node_device = place(graph, supported, deps, options);
  std::vector<std::size_t> node_subgraph;
  p.subgraphs = group(p.node_device, deps, node_subgraph);
  // Each absorption removes at least one subgraph boundary, so this ends.
  while (absorb_islands(p.node_device, p.subgraphs, supported, options))
    p.subgraphs = group(p.node_device, deps, node_subgraph);

  // Boundaries: a value crosses when a node of another subgraph reads it.
  std::unordered_map<std::string, std::size_t> produced_in;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    for (const auto& o : graph.nodes[n].outputs)
      if (!o.empty()) produced_in[o] = node_subgraph[n];
  std::vector<std::set<std::string>> ins(p.subgraphs.size()), outs(p.subgraphs.size());
  std::set<std::string> graph_inputs;
  for (const auto& in : graph.inputs) graph_inputs.insert(in.name);
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    std::unordered_set<std::string> reads;
    collect_reads(graph.nodes[n], reads);
    const std::size_t s = node_subgraph[n];
    for (const auto& r : reads) {
      auto it = produced_in.find(r);
      if (it != produced_in.end() && it->second != s) {
        ins[s].insert(r);
        outs[it->second].insert(r);
      } else if (it == produced_in.end() && graph_inputs.count(r)) {
        ins[s].insert(r);
      }
    }
  }
  for (const auto& o : graph.outputs)
    if (auto it = produced_in.find(o.name); it != produced_in.end())
      outs[it->second].insert(o.name);
  for (std::size_t s = 0; s < p.subgraphs.size(); ++s) {
    p.subgraphs[s].inputs.assign(ins[s].begin(), ins[s].end());
    p.subgraphs[s].outputs.assign(outs[s].begin(), outs[s].end());
  }
  return p;
}

Graph extract_subgraph(const Graph& graph, const Subgraph& subgraph, const ShapeInference& shapes,
                       const std::string& name) {
  Graph g;
  g.name = name;
  g.opsets = graph.opsets;
  auto port = [&](const std::string& value) {
    PortInfo p;
    p.name = value;
    for (const auto& in : graph.inputs)
      if (in.name == value) return in;  // the model's own declaration, symbols included
    auto it = shapes.values.find(value);
    if (it == shapes.values.end() || it->second.type == ElementType::undefined) {
      p.kind = PortInfo::Kind::unknown;  // a sequence or a value no rule could type
      return p;
    }
    p.element_type = it->second.type;
    p.has_shape = it->second.rank_known;
    for (int64_t d : it->second.dims) p.shape.push_back(Dimension{d, ""});
    return p;
  };
  for (const auto& in : subgraph.inputs) g.inputs.push_back(port(in));
  for (const auto& out : subgraph.outputs) g.outputs.push_back(port(out));
  for (std::size_t n : subgraph.nodes) {
    const Node& node = graph.nodes.at(n);
    g.nodes.push_back(node);
    std::unordered_set<std::string> reads;
    collect_reads(node, reads);
    for (const auto& r : reads)
      if (auto it = graph.constants.find(r); it != graph.constants.end())
        g.constants.emplace(r, it->second);  // shares the weight's memory
  }
  return g;
}

}  // namespace sinter::ir
