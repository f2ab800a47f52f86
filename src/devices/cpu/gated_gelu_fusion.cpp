#include "devices/cpu/gated_gelu_fusion.hpp"

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"

namespace sinter::cpu {

namespace {

// Whether `split` cuts its input's last axis into two equal halves (the axis and the output
// extents from shape inference, whichever way the split sizes are given).
bool splits_last_axis_in_halves(const ir::Node& split, const ir::ShapeInference& shapes) {
  if (split.outputs.size() != 2 || split.inputs.empty()) return false;
  const auto* x = known_f32_dims(shapes, split.inputs[0]);
  const auto* first = known_f32_dims(shapes, split.outputs[0]);
  const auto* second = known_f32_dims(shapes, split.outputs[1]);
  if (!x || !first || !second || x->empty() || first->size() != x->size() ||
      second->size() != x->size())
    return false;
  const auto rank = static_cast<int64_t>(x->size());
  int64_t axis = split.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  const int64_t width = x->back();
  return axis == rank - 1 && width > 0 && width % 2 == 0 && first->back() == width / 2 &&
         second->back() == width / 2;
}

}  // namespace

int fuse_gated_gelus(ir::Graph& g, const ir::ShapeInference& shapes) {
  GraphMatcher m(g);
  int removed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (m.removed(i)) continue;
    ir::Node& mul = g.nodes[i];
    if (mul.op_type != "Mul" || !mul.domain.empty() || mul.inputs.size() != 2) continue;
    for (int side = 0; side < 2; ++side) {
      ir::Node* gelu = m.private_producer(mul.inputs[side], "GeluErf", kCpuDomain);
      if (!gelu || gelu->inputs.size() != 1) continue;
      const std::string& gates = gelu->inputs[0];
      const std::string& values = mul.inputs[1 - side];
      ir::Node* split = m.producer(gates);
      if (!split || split != m.producer(values) || split->op_type != "Split" ||
          !split->domain.empty() || !splits_last_axis_in_halves(*split, shapes))
        continue;
      const int gate = split->outputs[1] == gates ? 1 : 0;
      // Each half read by its one node here, neither a graph output.
      if (split->outputs[1 - gate] != values ||
          m.sole_reader(gates, "GeluErf", kCpuDomain) != gelu ||
          m.sole_reader(values, "Mul") != &mul)
        continue;
      const std::string x = split->inputs[0];
      m.remove(gelu);
      m.remove(split);
      mul.op_type = "GatedGelu";
      mul.domain = kCpuDomain;
      mul.inputs = {x};
      mul.attributes.clear();
      mul.attributes["gate"].kind = ir::Attribute::Kind::i;
      mul.attributes["gate"].i = gate;
      const auto absorbed = m.take_absorbed_sources();
      mul.sources.insert(mul.sources.end(), absorbed.begin(), absorbed.end());
      removed += 2;
      break;
    }
  }
  m.erase_removed();
  return removed;
}

}  // namespace sinter::cpu
