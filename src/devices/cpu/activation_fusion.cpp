#include "devices/cpu/activation_fusion.hpp"

#include <cmath>
#include <optional>
#include <unordered_set>
#include <utility>

#include "devices/cpu/conv_fusion.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

class Matcher {
 public:
  explicit Matcher(ir::Graph& g) : g_(g), readers_(passes::readers_of(g)) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& o : g.nodes[i].outputs)
        if (!o.empty()) producer_[o] = i;
  }

  // The node producing `value` when it is `op` and `value` has no other reader (and is not a
  // graph output), so it may disappear into a fused node.
  ir::Node* private_producer(const std::string& value, const std::string& op) {
    auto p = producer_.find(value);
    if (p == producer_.end() || removed_.count(p->second)) return nullptr;
    ir::Node& n = g_.nodes[p->second];
    if (n.op_type != op || !n.domain.empty() || n.outputs.size() != 1) return nullptr;
    auto r = readers_.find(value);
    if (r == readers_.end() || r->second.size() != 1 || passes::is_graph_output(g_, value))
      return nullptr;
    return &n;
  }
  // The scalar f32 constant `value`, if it is one.
  std::optional<float> scalar(const std::string& value) const {
    const Tensor* t = passes::f32_constant(g_, value);
    if (!t || t->element_count() != 1) return std::nullopt;
    return t->data_as<float>()[0];
  }
  void remove(const ir::Node* n) {
    removed_.insert(static_cast<std::size_t>(n - g_.nodes.data()));
    absorbed_sources_.insert(absorbed_sources_.end(), n->sources.begin(), n->sources.end());
  }
  // The sources of the nodes removed since the last call (they go to the fused node).
  std::vector<std::size_t> take_absorbed_sources() { return std::exchange(absorbed_sources_, {}); }
  bool removed(std::size_t i) const { return removed_.count(i) > 0; }

 private:
  ir::Graph& g_;
  std::unordered_map<std::string, std::vector<std::size_t>> readers_;
  std::unordered_map<std::string, std::size_t> producer_;
  std::unordered_set<std::size_t> removed_;
  std::vector<std::size_t> absorbed_sources_;
};

bool is_binary(const ir::Node& n, const char* op) {
  return n.op_type == op && n.domain.empty() && n.inputs.size() == 2 && n.outputs.size() == 1;
}

bool near(float a, float b) {
  return std::fabs(a - b) <= 1e-5f * std::fabs(b);
}

// Mul(x, Sigmoid(x)) or Mul(x, Sigmoid(Mul(x, k))): x and alpha.
std::optional<std::pair<std::string, float>> match_swish(Matcher& m, const ir::Node& mul) {
  if (!is_binary(mul, "Mul")) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const std::string& x = mul.inputs[side];
    ir::Node* sig = m.private_producer(mul.inputs[1 - side], "Sigmoid");
    if (!sig || sig->inputs.size() != 1) continue;
    if (sig->inputs[0] == x) {
      m.remove(sig);
      return std::pair{x, 1.f};
    }
    ir::Node* scaled = m.private_producer(sig->inputs[0], "Mul");
    if (!scaled || !is_binary(*scaled, "Mul")) continue;
    for (int k = 0; k < 2; ++k) {
      auto alpha = m.scalar(scaled->inputs[1 - k]);
      if (scaled->inputs[k] == x && alpha) {
        m.remove(sig);
        m.remove(scaled);
        return std::pair{x, *alpha};
      }
    }
  }
  return std::nullopt;
}

// Mul(Mul(x, Add(Erf(Div(x, sqrt2)), 1)), 0.5) with operands in either order: x.
std::optional<std::string> match_gelu(Matcher& m, const ir::Node& outer) {
  if (!is_binary(outer, "Mul")) return std::nullopt;
  for (int s0 = 0; s0 < 2; ++s0) {
    auto half = m.scalar(outer.inputs[1 - s0]);
    if (!half || !near(*half, 0.5f)) continue;
    ir::Node* inner = m.private_producer(outer.inputs[s0], "Mul");
    if (!inner || !is_binary(*inner, "Mul")) continue;
    for (int s1 = 0; s1 < 2; ++s1) {
      const std::string& x = inner->inputs[s1];
      ir::Node* add = m.private_producer(inner->inputs[1 - s1], "Add");
      if (!add || !is_binary(*add, "Add")) continue;
      for (int s2 = 0; s2 < 2; ++s2) {
        auto one = m.scalar(add->inputs[1 - s2]);
        if (!one || *one != 1.f) continue;
        ir::Node* erf = m.private_producer(add->inputs[s2], "Erf");
        if (!erf || erf->inputs.size() != 1) continue;
        ir::Node* div = m.private_producer(erf->inputs[0], "Div");
        ir::Node* mul = div ? nullptr : m.private_producer(erf->inputs[0], "Mul");
        bool ok = false;
        if (div && is_binary(*div, "Div") && div->inputs[0] == x) {
          auto c = m.scalar(div->inputs[1]);
          ok = c && near(*c, std::sqrt(2.f));
        } else if (mul && is_binary(*mul, "Mul")) {
          for (int k = 0; k < 2; ++k) {
            auto c = m.scalar(mul->inputs[1 - k]);
            ok = ok || (mul->inputs[k] == x && c && near(*c, 1.f / std::sqrt(2.f)));
          }
        }
        if (!ok) continue;
        for (const ir::Node* n : {inner, add, erf, div ? div : mul}) m.remove(n);
        return x;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

int fuse_activations(ir::Graph& g) {
  Matcher m(g);
  int removed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (m.removed(i)) continue;
    ir::Node& n = g.nodes[i];
    if (auto gelu = match_gelu(m, n)) {
      n.op_type = "GeluErf";
      n.inputs = {*gelu};
      removed += 4;
    } else if (auto swish = match_swish(m, n)) {
      n.op_type = "Swish";
      n.inputs = {swish->first};
      n.attributes["alpha"].kind = ir::Attribute::Kind::f;
      n.attributes["alpha"].f = swish->second;
      removed += swish->second == 1.f ? 1 : 2;
    } else {
      continue;
    }
    n.domain = kCpuDomain;
    const auto absorbed = m.take_absorbed_sources();
    n.sources.insert(n.sources.end(), absorbed.begin(), absorbed.end());
  }
  std::vector<bool> gone(g.nodes.size());
  for (std::size_t i = 0; i < g.nodes.size(); ++i) gone[i] = m.removed(i);
  passes::erase_nodes(g, gone);
  return removed;
}

}  // namespace sinter::cpu
