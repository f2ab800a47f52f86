#include "passes/graph_rewrite.hpp"

#include <algorithm>
#include <unordered_set>

namespace sinter::passes {

std::unordered_map<std::string, std::vector<std::size_t>> readers_of(const ir::Graph& graph) {
  std::unordered_map<std::string, std::vector<std::size_t>> readers;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    std::unordered_set<std::string> reads;
    ir::collect_reads(graph.nodes[i], reads);
    for (const auto& r : reads) readers[r].push_back(i);
  }
  return readers;
}

bool is_graph_output(const ir::Graph& graph, const std::string& name) {
  return std::any_of(graph.outputs.begin(), graph.outputs.end(),
                     [&](const PortInfo& o) { return o.name == name; });
}

namespace {

// A subgraph that defines `from` itself (as input, constant or node output) shadows the outer
// name; its reads are left alone.
bool defines(const ir::Graph& g, const std::string& name) {
  if (g.constants.count(name)) return true;
  for (const auto& in : g.inputs)
    if (in.name == name) return true;
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs)
      if (o == name) return true;
  return false;
}

void rename_in_node(ir::Node& node, const std::string& from, const std::string& to) {
  for (auto& in : node.inputs)
    if (in == from) in = to;
  for (auto& [_, a] : node.attributes) {
    auto visit = [&](ir::Graph& g) {
      if (defines(g, from)) return;
      for (auto& n : g.nodes) rename_in_node(n, from, to);
      for (auto& o : g.outputs)
        if (o.name == from) o.name = to;
    };
    // Subgraphs are shared by pointer with the graph this one was copied from: copy on write.
    if (a.g) {
      a.g = std::make_shared<ir::Graph>(*a.g);
      visit(*a.g);
    }
    for (auto& sg : a.graphs) {
      sg = std::make_shared<ir::Graph>(*sg);
      visit(*sg);
    }
  }
}

}  // namespace

void rename_reads(ir::Graph& graph, const std::string& from, const std::string& to) {
  for (auto& n : graph.nodes) rename_in_node(n, from, to);
}

std::string fresh_constant_name(const ir::Graph& graph, const std::string& base) {
  std::unordered_set<std::string> used;
  for (const auto& in : graph.inputs) used.insert(in.name);
  for (const auto& [name, _] : graph.constants) used.insert(name);
  for (const auto& n : graph.nodes) used.insert(n.outputs.begin(), n.outputs.end());
  if (!used.count(base)) return base;
  for (int k = 1;; ++k) {
    std::string candidate = base + "_" + std::to_string(k);
    if (!used.count(candidate)) return candidate;
  }
}

void erase_nodes(ir::Graph& graph, const std::vector<bool>& removed) {
  std::vector<ir::Node> kept;
  kept.reserve(graph.nodes.size());
  for (std::size_t i = 0; i < graph.nodes.size(); ++i)
    if (i >= removed.size() || !removed[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
}

const Tensor* f32_constant(const ir::Graph& graph, const std::string& name) {
  auto it = graph.constants.find(name);
  if (it == graph.constants.end() || it->second.element_type() != ElementType::f32) return nullptr;
  return &it->second;
}

}  // namespace sinter::passes
