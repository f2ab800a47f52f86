#include "devices/cpu/activation_fusion.hpp"

#include <cmath>
#include <optional>
#include <unordered_set>
#include <utility>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

bool is_binary(const ir::Node& n, const char* op) {
  return n.op_type == op && n.domain.empty() && n.inputs.size() == 2 && n.outputs.size() == 1;
}

bool near(float a, float b) {
  return std::fabs(a - b) <= 1e-5f * std::fabs(b);
}

// Mul(x, Sigmoid(x)) or Mul(x, Sigmoid(Mul(x, k))): x and alpha.
std::optional<std::pair<std::string, float>> match_swish(GraphMatcher& m, const ir::Node& mul) {
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
std::optional<std::string> match_gelu(GraphMatcher& m, const ir::Node& outer) {
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
  GraphMatcher m(g);
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
  m.erase_removed();
  return removed;
}

}  // namespace sinter::cpu
