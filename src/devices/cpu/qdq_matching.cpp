#include "devices/cpu/qdq_matching.hpp"

#include <cmath>

#include "devices/cpu/conv_fusion.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

const ir::Node* made_by(const ir::Graph& g, const ProducerIndex& producer, const std::string& v,
                        const char* op) {
  auto p = producer.find(v);
  if (p == producer.end()) return nullptr;
  const ir::Node& n = g.nodes[p->second];
  return n.op_type == op && n.domain.empty() ? &n : nullptr;
}

// The 8-bit constant `name` as ints (uint8 or int8; `u8` says which), or nothing.
std::optional<std::vector<int>> codes_of(const ir::Graph& g, const std::string& name, bool& u8) {
  auto it = g.constants.find(name);
  if (it == g.constants.end()) return std::nullopt;
  const Tensor& t = it->second;
  u8 = t.element_type() == ElementType::u8;
  if (!u8 && t.element_type() != ElementType::i8) return std::nullopt;
  std::vector<int> v(static_cast<std::size_t>(t.element_count()));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = u8 ? t.data_as<uint8_t>()[i] : t.data_as<int8_t>()[i];
  return v;
}

// A scalar quantization's parameters: (scale, zero point, uint8 codes), from a QuantizeLinear or
// DequantizeLinear node's inputs 1 and 2. A missing zero point is a uint8 0.
struct ScalarParams {
  float scale = 0;
  int zero_point = 0;
  bool u8 = true;
  bool operator==(const ScalarParams&) const = default;
};

std::optional<ScalarParams> scalar_params(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() < 2) return std::nullopt;
  const Tensor* s = passes::f32_constant(g, n.inputs[1]);
  if (!s || s->element_count() != 1) return std::nullopt;
  ScalarParams p;
  p.scale = s->data_as<float>()[0];
  // A scale that is not a positive finite number leaves the codes meaningless (x / 0):
  // those nodes keep their own kernels.
  if (!(p.scale > 0) || !std::isfinite(p.scale)) return std::nullopt;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const auto z = codes_of(g, n.inputs[2], p.u8);
    if (!z || z->size() != 1) return std::nullopt;
    p.zero_point = (*z)[0];
  }
  return p;
}

}  // namespace

ProducerIndex producer_index(const ir::Graph& g) {
  ProducerIndex producer;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs) producer[o] = i;
  return producer;
}

std::optional<StaticQuantizedInput> static_quantized_input(const ir::Graph& g,
                                                           const ProducerIndex& producer,
                                                           const std::string& value) {
  const ir::Node* dq = made_by(g, producer, value, "DequantizeLinear");
  if (!dq || dq->inputs.empty()) return std::nullopt;
  const ir::Node* q = made_by(g, producer, dq->inputs[0], "QuantizeLinear");
  if (!q || q->inputs.empty() || q->outputs.size() != 1 || q->find("output_dtype"))
    return std::nullopt;
  const auto qp = scalar_params(g, *q), dqp = scalar_params(g, *dq);
  if (!qp || !dqp || !(*qp == *dqp)) return std::nullopt;
  StaticQuantizedInput in;
  in.x = q->inputs[0];
  in.scale = qp->scale;
  in.zero_point = qp->zero_point + (qp->u8 ? 0 : 128);
  return in;
}

std::optional<DequantizedWeights> dequantized_weights(const ir::Graph& g,
                                                      const ProducerIndex& producer,
                                                      const std::string& value, int64_t axis) {
  const ir::Node* dq = made_by(g, producer, value, "DequantizeLinear");
  if (!dq || dq->inputs.size() < 2) return std::nullopt;
  auto c = g.constants.find(dq->inputs[0]);
  if (c == g.constants.end()) return std::nullopt;
  const Tensor& codes = c->second;
  DequantizedWeights w;
  w.codes = dq->inputs[0];
  if (codes.element_type() != ElementType::u8 && codes.element_type() != ElementType::i8)
    return std::nullopt;
  w.u8 = codes.element_type() == ElementType::u8;
  const Tensor* s = passes::f32_constant(g, dq->inputs[1]);
  if (!s || codes.rank() == 0) return std::nullopt;
  const int64_t rank = codes.rank();
  const int64_t want = axis < 0 ? axis + rank : axis;
  int64_t own = dq->attr_int("axis", 1);
  own = own < 0 ? own + rank : own;
  if (s->element_count() > 1 && (s->rank() != 1 || own != want || want < 0 || want >= rank ||
                                 s->element_count() != codes.shape()[want]))
    return std::nullopt;
  w.scales.assign(s->data_as<float>(), s->data_as<float>() + s->element_count());
  w.zero_points = {0};
  if (dq->inputs.size() > 2 && !dq->inputs[2].empty()) {
    bool u8 = false;
    const auto z = codes_of(g, dq->inputs[2], u8);
    if (!z || u8 != w.u8 || (z->size() != 1 && z->size() != w.scales.size())) return std::nullopt;
    w.zero_points = *z;
  }
  return w;
}

int fuse_quantize_dequantize_pairs(ir::Graph& g) {
  const ProducerIndex producer = producer_index(g);
  int rewritten = 0;
  for (ir::Node& n : g.nodes) {
    if (n.op_type != "DequantizeLinear" || !n.domain.empty() || n.outputs.size() != 1) continue;
    const auto in = static_quantized_input(g, producer, n.outputs[0]);
    if (!in) continue;
    n.domain = kCpuDomain;
    n.op_type = "QuantizeDequantize";
    n.inputs = {in->x};
    n.attributes.clear();
    n.attributes["scale"].kind = ir::Attribute::Kind::f;
    n.attributes["scale"].f = in->scale;
    n.attributes["zero_point"].kind = ir::Attribute::Kind::i;
    n.attributes["zero_point"].i = in->zero_point;
    ++rewritten;
  }
  return rewritten;
}

}  // namespace sinter::cpu
