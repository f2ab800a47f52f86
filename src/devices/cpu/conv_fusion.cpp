#include "devices/cpu/conv_fusion.hpp"

#include <limits>
#include <optional>
#include <unordered_set>

#include "ir/shape_inference.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

struct PostOp {
  std::string kind;
  float alpha = 0, beta = 0;
};

// The post-op for an activation node, when oneDNN has one with ONNX's semantics.
std::optional<PostOp> activation_post_op(const ir::Graph& g, const ir::Node& n) {
  if (n.domain == kCpuDomain && n.op_type == "Swish")
    return PostOp{"swish", n.attr_float("alpha", 1.f)};
  if (n.domain == kCpuDomain && n.op_type == "GeluErf") return PostOp{"gelu_erf"};
  if (!n.domain.empty() || n.outputs.size() != 1) return std::nullopt;
  const std::string& op = n.op_type;
  if (op == "Relu") return PostOp{"relu"};
  if (op == "Sigmoid") return PostOp{"sigmoid"};
  if (op == "Tanh") return PostOp{"tanh"};
  if (op == "HardSwish") return PostOp{"hard_swish"};
  if (op == "LeakyRelu") return PostOp{"leaky_relu", n.attr_float("alpha", 0.01f)};
  if (op == "Elu") return PostOp{"elu", n.attr_float("alpha", 1.f)};
  if (op == "HardSigmoid")
    return PostOp{"hard_sigmoid", n.attr_float("alpha", 0.2f), n.attr_float("beta", 0.5f)};
  if (op == "Clip") {
    float lo = -std::numeric_limits<float>::infinity(), hi = -lo;
    if (n.find("min") || n.find("max")) {  // opset < 11: attributes
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    }
    for (std::size_t k = 1; k < n.inputs.size() && k < 3; ++k) {
      if (n.inputs[k].empty()) continue;
      const Tensor* t = passes::f32_constant(g, n.inputs[k]);
      if (!t || t->element_count() != 1) return std::nullopt;
      (k == 1 ? lo : hi) = t->data_as<float>()[0];
    }
    return PostOp{"clip", lo, hi};
  }
  return std::nullopt;
}

bool same_known_shape(const ir::ShapeInference& shapes, const std::string& a,
                      const std::string& b) {
  auto ia = shapes.values.find(a), ib = shapes.values.find(b);
  return ia != shapes.values.end() && ib != shapes.values.end() && ia->second.shape_known() &&
         ib->second.shape_known() && ia->second.dims == ib->second.dims &&
         ib->second.type == ElementType::f32;
}

}  // namespace

int fuse_convolutions(ir::Graph& g, int& convs) {
  convs = 0;
  int absorbed = 0;
  const ir::ShapeInference shapes = ir::infer_shapes(g);
  const auto readers = passes::readers_of(g);
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& conv = g.nodes[i];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.inputs.size() < 2 ||
        conv.outputs.size() != 1 || conv.inputs[0].empty())
      continue;
    const Tensor* w = passes::f32_constant(g, conv.inputs[1]);
    if (!w || w->rank() < 3 || w->rank() > 5) continue;
    if (conv.inputs.size() > 2 && !conv.inputs[2].empty() &&
        !passes::f32_constant(g, conv.inputs[2]))
      continue;
    std::vector<PostOp> post;
    std::string residual;
    std::string value = conv.outputs[0];
    // Follow the chain while the value has one reader and is not a graph output.
    for (;;) {
      auto r = readers.find(value);
      if (r == readers.end() || r->second.size() != 1 || passes::is_graph_output(g, value)) break;
      const std::size_t j = r->second[0];
      if (removed[j]) break;  // already absorbed by another Conv (the other side of an Add)
      const ir::Node& next = g.nodes[j];
      if (next.op_type == "Add" && next.domain.empty() && residual.empty() &&
          next.inputs.size() == 2 && next.outputs.size() == 1 &&
          (next.inputs[0] == value) != (next.inputs[1] == value)) {
        const std::string other = next.inputs[0] == value ? next.inputs[1] : next.inputs[0];
        if (!same_known_shape(shapes, value, other)) break;
        residual = other;
        post.push_back({"sum"});
      } else if (auto op = activation_post_op(g, next);
                 op && !next.inputs.empty() && next.inputs[0] == value) {
        post.push_back(*op);
      } else {
        break;
      }
      removed[j] = true;
      conv.sources.insert(conv.sources.end(), next.sources.begin(), next.sources.end());
      value = next.outputs[0];
      ++absorbed;
    }
    conv.domain = kCpuDomain;
    conv.op_type = "FusedConv";
    conv.outputs[0] = value;
    conv.inputs.resize(4);
    conv.inputs[3] = residual;
    ir::Attribute kinds, alphas, betas;
    kinds.kind = ir::Attribute::Kind::strings;
    alphas.kind = betas.kind = ir::Attribute::Kind::floats;
    for (const auto& p : post) {
      kinds.strings.push_back(p.kind);
      alphas.floats.push_back(p.alpha);
      betas.floats.push_back(p.beta);
    }
    conv.attributes["post_ops"] = kinds;
    conv.attributes["post_alpha"] = alphas;
    conv.attributes["post_beta"] = betas;
    ++convs;
  }
  std::vector<ir::Node> kept;
  kept.reserve(g.nodes.size());
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  // The residual may be produced after the Conv in the original order: restore topological order.
  ir::validate(g);
  return absorbed;
}

int keep_blocked_layouts(ir::Graph& g, int64_t block, const ir::ShapeInference& shapes) {
  if (block <= 0) return 0;
  const auto readers = passes::readers_of(g);
  auto is_fused = [](const ir::Node& n) {
    return n.domain == kCpuDomain && n.op_type == "FusedConv";
  };
  std::unordered_set<std::string> blocked;
  for (auto& n : g.nodes) {
    if (!is_fused(n)) continue;
    const std::string& v = n.outputs[0];
    auto info = shapes.values.find(v);
    if (info == shapes.values.end() || !info->second.shape_known()) continue;
    const auto& dims = info->second.dims;
    if (dims.size() < 3 || dims.size() > 5 || dims[1] % block != 0) continue;
    if (passes::is_graph_output(g, v)) continue;
    auto r = readers.find(v);
    if (r == readers.end()) continue;
    bool only_conv_data = true;
    for (std::size_t j : r->second) {
      const ir::Node& reader = g.nodes[j];
      only_conv_data = only_conv_data && is_fused(reader) && reader.inputs[1] != v &&
                       (reader.inputs.size() < 3 || reader.inputs[2] != v);
    }
    if (!only_conv_data) continue;
    n.attributes["dst_blocked"].kind = ir::Attribute::Kind::i;
    n.attributes["dst_blocked"].i = block;
    blocked.insert(v);
  }
  for (auto& n : g.nodes) {
    if (!is_fused(n)) continue;
    for (auto [input, attr] : {std::pair{0, "src_blocked"}, std::pair{3, "residual_blocked"}}) {
      if (n.inputs.size() > static_cast<std::size_t>(input) && blocked.count(n.inputs[input])) {
        n.attributes[attr].kind = ir::Attribute::Kind::i;
        n.attributes[attr].i = block;
      }
    }
  }
  return static_cast<int>(blocked.size());
}

}  // namespace sinter::cpu
