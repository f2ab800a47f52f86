#include "ir/graph.hpp"

#include <set>
#include <unordered_map>
#include <unordered_set>

#include "base/errors.hpp"

namespace sinter::ir {

std::string Node::label() const {
  return fmt::format("node '{}' ({})", name.empty() ? outputs.empty() ? "?" : outputs[0] : name,
                     op_type);
}

Node& Graph::add_node(std::string op_type, std::vector<std::string> inputs,
                      std::vector<std::string> outputs) {
  Node n;
  n.op_type = std::move(op_type);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  nodes.push_back(std::move(n));
  return nodes.back();
}

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets.find(domain);
  return it == opsets.end() ? 0 : it->second;
}

void collect_reads(const Node& node, std::unordered_set<std::string>& out) {
  for (const auto& in : node.inputs)
    if (!in.empty()) out.insert(in);
  for (const auto& [_, a] : node.attributes) {
    auto visit = [&](const Graph& g) {
      for (const auto& inner : g.nodes) collect_reads(inner, out);
      for (const auto& o : g.outputs) out.insert(o.name);
    };
    if (a.g) visit(*a.g);
    for (const auto& g : a.graphs) visit(*g);
  }
}

std::vector<std::vector<std::string>> values_dying_after(const Graph& graph) {
  std::unordered_map<std::string, std::size_t> last;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    std::unordered_set<std::string> reads;
    collect_reads(graph.nodes[i], reads);
    for (const auto& r : reads) last[r] = i;
  }
  for (const auto& o : graph.outputs) last.erase(o.name);
  std::vector<std::vector<std::string>> dying(graph.nodes.size());
  for (const auto& [name, i] : last) dying[i].push_back(name);
  return dying;
}

namespace {
void subgraph_names(const Graph& g, std::unordered_set<std::string>& used) {
  // Names a subgraph reads from outside itself count as inputs of the node that owns it.
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs) used.insert(in);
    for (const auto& [_, a] : n.attributes) {
      if (a.g) subgraph_names(*a.g, used);
      for (const auto& sg : a.graphs) subgraph_names(*sg, used);
    }
  }
}
}  // namespace

void validate(Graph& graph, const std::vector<std::string>& outer_names) {
  std::unordered_set<std::string> outer(outer_names.begin(), outer_names.end());
  std::unordered_set<std::string> available;
  for (const auto& in : graph.inputs) {
    SINTER_CHECK(!in.name.empty(), invalid_model, "graph '{}' has an input without a name",
                 graph.name);
    available.insert(in.name);
  }
  for (const auto& [name, _] : graph.constants) available.insert(name);

  std::unordered_map<std::string, std::size_t> producer;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const auto& out : graph.nodes[i].outputs) {
      if (out.empty()) continue;
      SINTER_CHECK(!producer.count(out), invalid_model,
                   "graph '{}': value '{}' is produced by both {} and {}", graph.name, out,
                   graph.nodes[producer[out]].label(), graph.nodes[i].label());
      producer[out] = i;
    }
  }

  // Kahn's algorithm over node dependencies, keeping the file's order among ready nodes.
  const std::size_t n = graph.nodes.size();
  std::vector<std::vector<std::size_t>> users(n);
  std::vector<int> pending(n, 0);
  std::vector<std::string> child_outer = outer_names;
  for (const auto& name : available) child_outer.push_back(name);
  for (const auto& [name, _] : producer) child_outer.push_back(name);

  for (std::size_t i = 0; i < n; ++i) {
    Node& node = graph.nodes[i];
    std::unordered_set<std::string> reads(node.inputs.begin(), node.inputs.end());
    for (auto& [_, a] : node.attributes) {
      if (a.g) {
        validate(*a.g, child_outer);
        subgraph_names(*a.g, reads);
      }
      for (auto& sg : a.graphs) {
        validate(*sg, child_outer);
        subgraph_names(*sg, reads);
      }
    }
    std::set<std::size_t> deps;
    for (const auto& in : node.inputs) {
      if (in.empty() || available.count(in) || producer.count(in) || outer.count(in)) continue;
      raise(ErrorCategory::invalid_model,
            "graph '{}': {} reads '{}', which no input, initializer or node produces", graph.name,
            node.label(), in);
    }
    for (const auto& in : reads) {
      auto it = producer.find(in);
      if (it != producer.end() && it->second != i && !available.count(in)) deps.insert(it->second);
    }
    pending[i] = static_cast<int>(deps.size());
    for (auto d : deps) users[d].push_back(i);
  }
  std::vector<std::size_t> order;
  std::set<std::size_t> ready;
  for (std::size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.insert(i);
  }
  while (!ready.empty()) {
    std::size_t i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (auto u : users[i]) {
      if (--pending[u] == 0) ready.insert(u);
    }
  }
  if (order.size() != n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (pending[i] > 0) {
        raise(ErrorCategory::invalid_model, "graph '{}' has a cycle through {}", graph.name,
              graph.nodes[i].label());
      }
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (auto i : order) sorted.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(sorted);

  for (const auto& out : graph.outputs) {
    SINTER_CHECK(available.count(out.name) || producer.count(out.name) || outer.count(out.name),
                 invalid_model, "graph '{}': output '{}' is not produced by any node", graph.name,
                 out.name);
  }
}

void count_ops(const Graph& graph, std::map<std::string, int64_t>& histogram) {
  for (const auto& n : graph.nodes) {
    ++histogram[n.op_type];
    for (const auto& [_, a] : n.attributes) {
      if (a.g) count_ops(*a.g, histogram);
      for (const auto& sg : a.graphs) count_ops(*sg, histogram);
    }
  }
}

bool dequantizes_constant_weights(const Graph& g, const Node& n) {
  if (n.op_type != "DequantizeLinear" || !n.domain.empty() || n.inputs.size() < 2 ||
      n.outputs.size() != 1)
    return false;
  auto codes = g.constants.find(n.inputs[0]);
  auto scales = g.constants.find(n.inputs[1]);
  if (codes == g.constants.end() || scales == g.constants.end() ||
      scales->second.element_type() != ElementType::f32 || codes->second.rank() == 0)
    return false;
  const ElementType type = codes->second.element_type();
  if (type != ElementType::i8 && type != ElementType::u8) return false;
  const int64_t rank = codes->second.rank();
  int64_t axis = n.attr_int("axis", 1);
  axis = axis < 0 ? axis + rank : axis;
  const int64_t count = scales->second.element_count();
  if (count != 1 && (axis < 0 || axis >= rank || count != codes->second.shape()[axis]))
    return false;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    auto zero = g.constants.find(n.inputs[2]);
    if (zero == g.constants.end() || zero->second.element_type() != type ||
        zero->second.element_count() != count)
      return false;
  }
  return true;
}

}  // namespace sinter::ir
