#include "devices/cpu/f16_widening.hpp"

#include <memory>

#include "base/half.hpp"
#include "ir/shape_inference.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

constexpr int64_t kF16 = static_cast<int64_t>(ElementType::f16);
constexpr int64_t kF32 = static_cast<int64_t>(ElementType::f32);

Tensor widened(const Tensor& t) {
  Tensor out = Tensor::uninitialized(ElementType::f32, t.shape());
  const f16* from = t.data_as<f16>();
  float* to = out.data_as<float>();
  for (int64_t i = 0; i < t.element_count(); ++i) to[i] = static_cast<float>(from[i]);
  return out;
}

// Whether anything in `g` (or its bodies) is f16: then the graph computes in f16 somewhere.
bool uses_f16(const ir::Graph& g) {
  for (const auto& [_, t] : g.constants)
    if (t.element_type() == ElementType::f16) return true;
  for (const auto& port : g.inputs)
    if (port.element_type == ElementType::f16) return true;
  for (const auto& port : g.outputs)
    if (port.element_type == ElementType::f16) return true;
  for (const auto& n : g.nodes) {
    for (const auto& [name, a] : n.attributes) {
      if (a.kind == ir::Attribute::Kind::t && a.t.element_type() == ElementType::f16) return true;
      if ((name == "to" || name == "dtype") && a.kind == ir::Attribute::Kind::i && a.i == kF16)
        return true;
      if (a.g && uses_f16(*a.g)) return true;
      for (const auto& body : a.graphs)
        if (uses_f16(*body)) return true;
    }
  }
  return false;
}

ir::Node cast_node(const std::string& from, const std::string& to, ElementType type) {
  ir::Node n;
  n.op_type = "Cast";
  n.name = to + "_cast";
  n.inputs = {from};
  n.outputs = {to};
  n.attributes["to"].kind = ir::Attribute::Kind::i;
  n.attributes["to"].i = static_cast<int64_t>(type);
  return n;
}

int widen_inside(ir::Graph& g);

// A body of an If/Loop/Scan: its own copy (the model's graph shares it), ports included (they
// are values of the enclosing graph, which is widened too).
std::shared_ptr<ir::Graph> widened_body(const ir::Graph& body, int& moved) {
  auto copy = std::make_shared<ir::Graph>(body);
  for (auto* ports : {&copy->inputs, &copy->outputs})
    for (auto& port : *ports)
      if (port.element_type == ElementType::f16) port.element_type = ElementType::f32;
  moved += widen_inside(*copy);
  return copy;
}

// Constants, node attributes and bodies of `g`; not its own inputs and outputs.
int widen_inside(ir::Graph& g) {
  int moved = 0;
  for (auto& [_, t] : g.constants) {
    if (t.element_type() != ElementType::f16) continue;
    t = widened(t);
    ++moved;
  }
  for (auto& n : g.nodes) {
    for (auto& [name, a] : n.attributes) {
      if (a.kind == ir::Attribute::Kind::t && a.t.element_type() == ElementType::f16) {
        a.t = widened(a.t);  // Constant's value, ConstantOfShape's value
        ++moved;
      }
      if ((name == "to" || name == "dtype") && a.kind == ir::Attribute::Kind::i && a.i == kF16) {
        a.i = kF32;
        ++moved;
      }
      if (a.g && uses_f16(*a.g)) a.g = widened_body(*a.g, moved);
      for (auto& body : a.graphs)
        if (uses_f16(*body)) body = widened_body(*body, moved);
    }
  }
  return moved;
}

// Casts whose input is already of the target type copy: Identity, which remove_pass_through
// takes out.
void drop_identity_casts(ir::Graph& g) {
  const ir::ShapeInference shapes = ir::infer_shapes(g);
  for (auto& n : g.nodes) {
    if (n.op_type != "Cast" || !n.domain.empty() || n.inputs.size() != 1) continue;
    auto in = shapes.values.find(n.inputs[0]);
    const ir::Attribute* to = n.find("to");
    if (in == shapes.values.end() || !to || in->second.type != ElementType(to->i)) continue;
    n.op_type = "Identity";
    n.attributes.clear();
  }
}

}  // namespace

int widen_f16(ir::Graph& g) {
  if (!uses_f16(g)) return 0;
  std::vector<ir::Node> prologue, epilogue;
  int moved = 0;
  // The caller still passes and receives f16 tensors where the model declares them: a Cast
  // after each such input, one before each such output.
  for (const auto& port : g.inputs) {
    if (port.element_type != ElementType::f16) continue;
    const std::string inside = passes::fresh_constant_name(g, port.name + "_f32");
    passes::rename_reads(g, port.name, inside);
    prologue.push_back(cast_node(port.name, inside, ElementType::f32));
    ++moved;
  }
  moved += widen_inside(g);
  for (const auto& port : g.outputs) {
    if (port.element_type != ElementType::f16) continue;
    const std::string inside = passes::fresh_constant_name(g, port.name + "_f32");
    for (auto& n : g.nodes)
      for (auto& o : n.outputs)
        if (o == port.name) o = inside;
    if (auto c = g.constants.find(port.name); c != g.constants.end()) {
      g.constants[inside] = c->second;
      g.constants.erase(c);
    }
    passes::rename_reads(g, port.name, inside);
    epilogue.push_back(cast_node(inside, port.name, ElementType::f16));
  }
  g.nodes.insert(g.nodes.begin(), prologue.begin(), prologue.end());
  g.nodes.insert(g.nodes.end(), epilogue.begin(), epilogue.end());
  drop_identity_casts(g);
  return moved;
}

}  // namespace sinter::cpu
