#include "devices/cpu/graph_matcher.hpp"

#include <utility>

#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

const std::vector<int64_t>* known_f32_dims(const ir::ShapeInference& shapes,
                                           const std::string& value) {
  auto it = shapes.values.find(value);
  if (it == shapes.values.end() || !it->second.shape_known() || it->second.type != ElementType::f32)
    return nullptr;
  return &it->second.dims;
}

GraphMatcher::GraphMatcher(ir::Graph& g) : g_(g), readers_(passes::readers_of(g)) {
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty()) producer_[o] = i;
}

bool GraphMatcher::private_value(const std::string& value) const {
  auto r = readers_.find(value);
  return r != readers_.end() && r->second.size() == 1 && !passes::is_graph_output(g_, value);
}

ir::Node* GraphMatcher::producer(const std::string& value) {
  auto p = producer_.find(value);
  return p == producer_.end() || removed(p->second) ? nullptr : &g_.nodes[p->second];
}

std::size_t GraphMatcher::reader_count(const std::string& value) const {
  auto r = readers_.find(value);
  return r == readers_.end() ? 0 : r->second.size();
}

ir::Node* GraphMatcher::private_producer(const std::string& value, const std::string& op,
                                         const std::string& domain) {
  ir::Node* n = private_value(value) ? producer(value) : nullptr;
  if (!n || n->op_type != op || n->domain != domain || n->outputs.size() != 1) return nullptr;
  return n;
}

ir::Node* GraphMatcher::sole_reader(const std::string& value, const std::string& op,
                                    const std::string& domain) {
  if (!private_value(value)) return nullptr;
  const std::size_t i = readers_.at(value)[0];
  ir::Node& n = g_.nodes[i];
  if (removed(i) || n.op_type != op || n.domain != domain || n.outputs.size() != 1) return nullptr;
  return &n;
}

std::optional<float> GraphMatcher::scalar(const std::string& value) const {
  const Tensor* t = passes::f32_constant(g_, value);
  if (!t || t->element_count() != 1) return std::nullopt;
  return t->data_as<float>()[0];
}

std::optional<std::vector<int64_t>> GraphMatcher::kept_dims_reduce_axes(const ir::Node& n) const {
  if (n.inputs.empty() || (n.find("keepdims") && n.find("keepdims")->i != 1)) return std::nullopt;
  if (n.inputs.size() >= 2 && !n.inputs[1].empty()) {
    auto it = g_.constants.find(n.inputs[1]);
    if (it == g_.constants.end() || it->second.element_type() != ElementType::i64)
      return std::nullopt;
    const int64_t* axes = it->second.data_as<int64_t>();
    return std::vector<int64_t>(axes, axes + it->second.element_count());
  }
  if (const ir::Attribute* a = n.find("axes")) return a->ints;
  return std::vector<int64_t>{};  // all axes
}

void GraphMatcher::remove(const ir::Node* n) {
  removed_.insert(static_cast<std::size_t>(n - g_.nodes.data()));
  absorbed_sources_.insert(absorbed_sources_.end(), n->sources.begin(), n->sources.end());
}

std::vector<std::size_t> GraphMatcher::take_absorbed_sources() {
  return std::exchange(absorbed_sources_, {});
}

void GraphMatcher::erase_removed() {
  std::vector<bool> gone(g_.nodes.size());
  for (std::size_t i = 0; i < g_.nodes.size(); ++i) gone[i] = removed(i);
  passes::erase_nodes(g_, gone);
  removed_.clear();
}

}  // namespace sinter::cpu
