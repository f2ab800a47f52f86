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

// Mul(x, HardSigmoid(x)) with HardSigmoid's alpha 1/6 and beta 0.5 (PyTorch's hardswish
// before opset 14): x.
std::optional<std::string> match_hard_swish(GraphMatcher& m, const ir::Node& mul) {
  if (!is_binary(mul, "Mul")) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const std::string& x = mul.inputs[side];
    ir::Node* gate = m.private_producer(mul.inputs[1 - side], "HardSigmoid");
    if (!gate || gate->inputs.size() != 1 || gate->inputs[0] != x) continue;
    if (!near(gate->attr_float("alpha", 0.2f), 1.f / 6.f) ||
        !near(gate->attr_float("beta", 0.5f), 0.5f))
      continue;
    m.remove(gate);
    return x;
  }
  return std::nullopt;
}

// `n` is Mul(value, c) or Mul(c, value) with c a scalar near `want`: returns value.
std::optional<std::string> times_scalar(GraphMatcher& m, const ir::Node& n, float want) {
  if (!is_binary(n, "Mul")) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    auto c = m.scalar(n.inputs[1 - side]);
    if (c && near(*c, want)) return n.inputs[side];
  }
  return std::nullopt;
}

// Clip(Add(x, 3), 0, 6) made privately from x (Clip's bounds as opset-11 constant inputs or as
// older attributes): x and the two nodes.
struct Relu6OfXPlus3 {
  std::string x;
  ir::Node *clip, *add;
};
std::optional<Relu6OfXPlus3> relu6_of_x_plus_3(GraphMatcher& m, const std::string& value) {
  ir::Node* clip = m.private_producer(value, "Clip");
  if (!clip || clip->inputs.empty() || clip->outputs.size() != 1) return std::nullopt;
  std::optional<float> lo, hi;
  if (clip->inputs.size() == 1) {
    if (clip->find("min")) lo = clip->attr_float("min", 0.f);
    if (clip->find("max")) hi = clip->attr_float("max", 0.f);
  } else if (clip->inputs.size() == 3) {
    lo = m.scalar(clip->inputs[1]);
    hi = m.scalar(clip->inputs[2]);
  }
  if (!lo || !hi || *lo != 0.f || *hi != 6.f) return std::nullopt;
  ir::Node* add = m.private_producer(clip->inputs[0], "Add");
  if (!add || !is_binary(*add, "Add")) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    auto three = m.scalar(add->inputs[1 - side]);
    if (three && *three == 3.f) return Relu6OfXPlus3{add->inputs[side], clip, add};
  }
  return std::nullopt;
}

// `n` divides another value by 6 (Div(value, 6) or Mul(value, 1/6) in either order): value.
std::optional<std::string> divided_by_6(GraphMatcher& m, const ir::Node& n) {
  if (is_binary(n, "Div")) {
    auto six = m.scalar(n.inputs[1]);
    if (six && *six == 6.f) return n.inputs[0];
    return std::nullopt;
  }
  return times_scalar(m, n, 1.f / 6.f);
}

// HardSwish written out, as PaddlePaddle's and TensorFlow's exporters write it:
// x * Clip(x + 3, 0, 6) / 6, i.e. Div(Mul(x, relu6(x + 3)), 6) or Mul(x, Div(relu6(x + 3), 6))
// (Div by 6 or Mul by 1/6, operands in either order): x.
std::optional<std::string> match_hard_swish_relu6(GraphMatcher& m, const ir::Node& outer) {
  // Div(Mul(x, relu6(x + 3)), 6)
  if (auto product = divided_by_6(m, outer)) {
    ir::Node* mul = m.private_producer(*product, "Mul");
    for (int side = 0; mul && is_binary(*mul, "Mul") && side < 2; ++side) {
      auto gate = relu6_of_x_plus_3(m, mul->inputs[1 - side]);
      if (!gate || gate->x != mul->inputs[side]) continue;
      for (const ir::Node* n : {mul, gate->clip, gate->add}) m.remove(n);
      return gate->x;
    }
  }
  // Mul(x, Div(relu6(x + 3), 6))
  if (!is_binary(outer, "Mul")) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    ir::Node* scale = m.private_producer(outer.inputs[1 - side], "Div");
    if (!scale) scale = m.private_producer(outer.inputs[1 - side], "Mul");
    auto clipped = scale ? divided_by_6(m, *scale) : std::nullopt;
    auto gate = clipped ? relu6_of_x_plus_3(m, *clipped) : std::nullopt;
    if (!gate || gate->x != outer.inputs[side]) continue;
    for (const ir::Node* n : {scale, gate->clip, gate->add}) m.remove(n);
    return gate->x;
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

// x^3 as Pow(x, 3) or Mul(Mul(x, x), x) (made privately for the GELU): the nodes, or empty.
std::vector<ir::Node*> cube_of(GraphMatcher& m, const std::string& value, const std::string& x) {
  if (ir::Node* pow = m.private_producer(value, "Pow")) {
    auto three = pow->inputs.size() == 2 ? m.scalar(pow->inputs[1]) : std::nullopt;
    if (pow->inputs[0] == x && three && *three == 3.f) return {pow};
    return {};
  }
  ir::Node* outer = m.private_producer(value, "Mul");
  if (!outer || !is_binary(*outer, "Mul")) return {};
  for (int side = 0; side < 2; ++side) {
    ir::Node* square = m.private_producer(outer->inputs[side], "Mul");
    if (outer->inputs[1 - side] == x && square && is_binary(*square, "Mul") &&
        square->inputs[0] == x && square->inputs[1] == x)
      return {outer, square};
  }
  return {};
}

// 1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3)) made privately from x: its nodes, or empty.
std::vector<ir::Node*> tanh_part(GraphMatcher& m, const std::string& value, const std::string& x) {
  ir::Node* plus_one = m.private_producer(value, "Add");
  if (!plus_one || !is_binary(*plus_one, "Add")) return {};
  for (int s0 = 0; s0 < 2; ++s0) {
    auto one = m.scalar(plus_one->inputs[1 - s0]);
    ir::Node* tanh = m.private_producer(plus_one->inputs[s0], "Tanh");
    if (!one || *one != 1.f || !tanh || tanh->inputs.size() != 1) continue;
    ir::Node* scaled = m.private_producer(tanh->inputs[0], "Mul");
    auto inner = scaled ? times_scalar(m, *scaled, std::sqrt(2.f / 3.14159265f)) : std::nullopt;
    ir::Node* sum = inner ? m.private_producer(*inner, "Add") : nullptr;
    if (!sum || !is_binary(*sum, "Add")) continue;
    for (int s1 = 0; s1 < 2; ++s1) {
      if (sum->inputs[s1] != x) continue;
      ir::Node* cubic = m.private_producer(sum->inputs[1 - s1], "Mul");
      auto cube = cubic ? times_scalar(m, *cubic, 0.044715f) : std::nullopt;
      if (!cube) continue;
      std::vector<ir::Node*> nodes = cube_of(m, *cube, x);
      if (nodes.empty()) continue;
      nodes.insert(nodes.end(), {plus_one, tanh, scaled, sum, cubic});
      return nodes;
    }
  }
  return {};
}

// GELU's tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) as GPT-2 and
// others export it: Mul(Mul(x, 0.5), T) or Mul(Mul(x, T), 0.5), operands in either order.
std::optional<std::string> match_gelu_tanh(GraphMatcher& m, const ir::Node& outer) {
  if (!is_binary(outer, "Mul")) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    ir::Node* inner = m.private_producer(outer.inputs[side], "Mul");
    if (!inner || !is_binary(*inner, "Mul")) continue;
    // Mul(Mul(x, 0.5), T): the other operand of outer is T.
    if (auto x = times_scalar(m, *inner, 0.5f)) {
      auto nodes = tanh_part(m, outer.inputs[1 - side], *x);
      if (nodes.empty()) continue;
      m.remove(inner);
      for (ir::Node* n : nodes) m.remove(n);
      return x;
    }
    // Mul(Mul(x, T), 0.5).
    auto half = m.scalar(outer.inputs[1 - side]);
    if (!half || !near(*half, 0.5f)) continue;
    for (int s = 0; s < 2; ++s) {
      const std::string x = inner->inputs[s];
      auto nodes = tanh_part(m, inner->inputs[1 - s], x);
      if (nodes.empty()) continue;
      m.remove(inner);
      for (ir::Node* n : nodes) m.remove(n);
      return x;
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
    } else if (auto gelu_tanh = match_gelu_tanh(m, n)) {
      n.op_type = "GeluTanh";
      n.inputs = {*gelu_tanh};
      const auto absorbed_so_far = m.take_absorbed_sources();
      removed += static_cast<int>(absorbed_so_far.size());
      n.domain = kCpuDomain;
      n.sources.insert(n.sources.end(), absorbed_so_far.begin(), absorbed_so_far.end());
      continue;
    } else if (auto hard_swish = match_hard_swish(m, n);
               hard_swish || (hard_swish = match_hard_swish_relu6(m, n))) {
      // The ONNX operator (opset 14) under its own name: the kernels and post-ops know it.
      n.op_type = "HardSwish";
      n.inputs = {*hard_swish};
      n.attributes.clear();
      const auto absorbed = m.take_absorbed_sources();
      n.sources.insert(n.sources.end(), absorbed.begin(), absorbed.end());
      removed += static_cast<int>(absorbed.size());
      continue;
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
