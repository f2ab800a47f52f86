#include "devices/cpu/conv_fusion.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_set>
#include <utility>

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
  if (n.domain == kCpuDomain && n.op_type == "GeluTanh") return PostOp{"gelu_tanh"};
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

// What follows a Conv or MatMul and can be computed as its post-ops.
struct Chain {
  std::vector<PostOp> post;
  std::string bias;  // MatMul only: a constant added along the last axis, first in the chain
  // MatMul only: a constant multiplying the last axis before any post-op (ConvNeXt's layer
  // scale), folded into the weights (and into the bias when that came first).
  std::string column_scale;
  bool scale_after_bias = false;
  std::string residual;  // the other operand of the Add done as the "sum" post-op
  std::string output;    // the last absorbed node's output (the fused node's output)
};

// For a binary ONNX `op` node with `value` as exactly one operand: the other; "" otherwise.
std::string other_operand(const ir::Node& n, const char* op, const std::string& value) {
  if (n.op_type != op || !n.domain.empty() || n.inputs.size() != 2 || n.outputs.size() != 1 ||
      (n.inputs[0] == value) == (n.inputs[1] == value))
    return "";
  return n.inputs[0] == value ? n.inputs[1] : n.inputs[0];
}

// A constant of `count` values along the last axis ([count] or [1, count]).
bool along_last_axis(const Tensor* t, int64_t count) {
  return t && t->element_count() == count && t->rank() >= 1 && t->rank() <= 2 &&
         t->shape().back() == count;
}

// Follows `node`'s output while the value has one reader and is not a graph output, absorbing
// (marking `removed`) what can be a post-op. `bias_channels` > 0 lets a first Add of a constant
// with that many elements become the bias.
Chain follow_chain(const ir::Graph& g, const ir::ShapeInference& shapes,
                   const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                   std::vector<bool>& removed, ir::Node& node, int64_t bias_channels) {
  Chain c;
  c.output = node.outputs[0];
  for (;;) {
    auto r = readers.find(c.output);
    if (r == readers.end() || r->second.size() != 1 || passes::is_graph_output(g, c.output)) break;
    const std::size_t j = r->second[0];
    if (removed[j]) break;  // already absorbed by another node (the other side of an Add)
    const ir::Node& next = g.nodes[j];
    const std::string other = other_operand(next, "Add", c.output);
    const bool binary_add = !other.empty();
    const Tensor* bias = binary_add ? passes::f32_constant(g, other) : nullptr;
    const std::string factor = other_operand(next, "Mul", c.output);
    const bool binary_mul = !factor.empty();
    const Tensor* scale = binary_mul ? passes::f32_constant(g, factor) : nullptr;
    if (binary_add && c.post.empty() && c.bias.empty() && bias_channels > 0 &&
        along_last_axis(bias, bias_channels)) {
      c.bias = other;
    } else if (binary_mul && c.post.empty() && c.column_scale.empty() && bias_channels > 0 &&
               along_last_axis(scale, bias_channels)) {
      c.column_scale = factor;
      c.scale_after_bias = !c.bias.empty();
    } else if (binary_add && c.residual.empty()) {
      if (!same_known_shape(shapes, c.output, other)) break;
      c.residual = other;
      c.post.push_back({"sum"});
    } else if (auto op = activation_post_op(g, next);
               op && !next.inputs.empty() && next.inputs[0] == c.output) {
      c.post.push_back(*op);
    } else {
      break;
    }
    removed[j] = true;
    node.sources.insert(node.sources.end(), next.sources.begin(), next.sources.end());
    c.output = next.outputs[0];
  }
  return c;
}

// Writes the chain's post-ops on `node` as the attributes the fused kernels read.
void set_post_op_attributes(ir::Node& node, const Chain& c) {
  ir::Attribute kinds, alphas, betas;
  kinds.kind = ir::Attribute::Kind::strings;
  alphas.kind = betas.kind = ir::Attribute::Kind::floats;
  for (const auto& p : c.post) {
    kinds.strings.push_back(p.kind);
    alphas.floats.push_back(p.alpha);
    betas.floats.push_back(p.beta);
  }
  node.attributes["post_ops"] = kinds;
  node.attributes["post_alpha"] = alphas;
  node.attributes["post_beta"] = betas;
  node.outputs[0] = c.output;
}

int count_absorbed(const std::vector<bool>& removed) {
  return static_cast<int>(std::count(removed.begin(), removed.end(), true));
}

void drop_removed(ir::Graph& g, const std::vector<bool>& removed) {
  passes::erase_nodes(g, removed);
  // A residual may be produced after the fused node in the original order: restore the order.
  ir::validate(g);
}

}  // namespace

int fuse_convolutions(ir::Graph& g, const ir::ShapeInference& shapes, int& convs) {
  convs = 0;
  const auto readers = passes::readers_of(g);
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& conv = g.nodes[i];
    if (removed[i] || conv.op_type != "Conv" || !conv.domain.empty() || conv.inputs.size() < 2 ||
        conv.outputs.size() != 1 || conv.inputs[0].empty())
      continue;
    const Tensor* w = passes::f32_constant(g, conv.inputs[1]);
    if (!w || w->rank() < 3 || w->rank() > 5) continue;
    if (conv.inputs.size() > 2 && !conv.inputs[2].empty() &&
        !passes::f32_constant(g, conv.inputs[2]))
      continue;
    const Chain chain = follow_chain(g, shapes, readers, removed, conv, 0);
    conv.domain = kCpuDomain;
    conv.op_type = "FusedConv";
    conv.inputs.resize(4);
    conv.inputs[3] = chain.residual;
    set_post_op_attributes(conv, chain);
    ++convs;
  }
  const int absorbed = count_absorbed(removed);
  drop_removed(g, removed);
  return absorbed;
}

namespace {

float float_attr(const ir::Node& n, const char* name, float fallback) {
  const ir::Attribute* a = n.find(name);
  return a ? a->f : fallback;
}

// Gemm(A, B, C) with constant f32 weights B and bias C (a vector of N, or [1, N]), alpha = beta
// = 1 and A not transposed is MatMul(A, B) plus a bias: returns the weights to use (B, or a new
// constant B^T for transB = 1; B itself is dropped when nothing else reads it) and the bias, or
// nothing when the Gemm is of another kind.
std::optional<std::pair<std::string, std::string>> gemm_as_matmul(
    ir::Graph& g, const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
    const ir::Node& gemm) {
  if (gemm.inputs.size() < 2 || gemm.inputs.size() > 3 || gemm.outputs.size() != 1 ||
      float_attr(gemm, "alpha", 1.f) != 1.f || float_attr(gemm, "beta", 1.f) != 1.f ||
      (gemm.find("transA") && gemm.find("transA")->i != 0))
    return std::nullopt;
  const Tensor* w = passes::f32_constant(g, gemm.inputs[1]);
  if (!w || w->rank() != 2) return std::nullopt;
  const bool trans_b = gemm.find("transB") && gemm.find("transB")->i != 0;
  const int64_t n = w->shape()[trans_b ? 0 : 1], k = w->shape()[trans_b ? 1 : 0];
  std::string bias = gemm.inputs.size() == 3 ? gemm.inputs[2] : "";
  if (!bias.empty()) {
    const Tensor* c = passes::f32_constant(g, bias);
    if (!c || c->element_count() != n || c->rank() < 1 || c->rank() > 2 || c->shape().back() != n)
      return std::nullopt;
  }
  if (!trans_b) return std::pair{gemm.inputs[1], bias};
  Tensor wt = Tensor::uninitialized(ElementType::f32, {k, n});
  for (int64_t r = 0; r < n; ++r)
    for (int64_t col = 0; col < k; ++col)
      wt.data_as<float>()[col * n + r] = w->data_as<float>()[r * k + col];
  const std::string name = passes::fresh_constant_name(g, gemm.inputs[1] + "_transposed");
  if (readers.at(gemm.inputs[1]).size() == 1 && !passes::is_graph_output(g, gemm.inputs[1]))
    g.constants.erase(gemm.inputs[1]);
  g.constants[name] = std::move(wt);
  return std::pair{name, bias};
}

// A copy of the f32 constant `name` (a matrix [K, N] or a vector along N) with column n
// multiplied by scale[n]; the original goes when nothing else reads it. Returns the copy's name.
std::string scaled_columns(ir::Graph& g,
                           const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                           const std::string& name, const float* scale) {
  const Tensor& original = *passes::f32_constant(g, name);
  Tensor scaled = Tensor::uninitialized(ElementType::f32, original.shape());
  const int64_t columns = original.shape().back();
  const float* from = original.data_as<float>();
  float* to = scaled.data_as<float>();
  for (int64_t i = 0; i < original.element_count(); ++i) to[i] = from[i] * scale[i % columns];
  const std::string copy = passes::fresh_constant_name(g, name + "_scaled");
  g.constants[copy] = std::move(scaled);
  auto r = readers.find(name);
  const bool graph_input = std::any_of(g.inputs.begin(), g.inputs.end(),
                                       [&](const PortInfo& in) { return in.name == name; });
  if ((r == readers.end() || r->second.size() <= 1) && !graph_input) g.constants.erase(name);
  return copy;
}

}  // namespace

int fuse_matmuls(ir::Graph& g, const ir::ShapeInference& shapes, int& matmuls) {
  matmuls = 0;
  const auto readers = passes::readers_of(g);
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& mm = g.nodes[i];
    const bool gemm = mm.op_type == "Gemm";
    if (removed[i] || (mm.op_type != "MatMul" && !gemm) || !mm.domain.empty() ||
        mm.outputs.size() != 1 || (!gemm && mm.inputs.size() != 2))
      continue;
    auto a = shapes.values.find(mm.inputs[0]);
    // A of rank >= 2 (1-D A changes the output's rank; Gemm's is 2-D), f32.
    if (a == shapes.values.end() || !a->second.rank_known || a->second.dims.size() < 2 ||
        a->second.type != ElementType::f32)
      continue;
    std::string weights = mm.inputs[1], gemm_bias;
    if (gemm) {
      const auto as_matmul = gemm_as_matmul(g, readers, mm);
      if (!as_matmul) continue;
      std::tie(weights, gemm_bias) = *as_matmul;
    }
    // Weights must be a constant matrix.
    const Tensor* w = passes::f32_constant(g, weights);
    if (!w || w->rank() != 2) continue;
    // A Gemm's own bias comes first; then no following Add can be the bias.
    Chain chain =
        follow_chain(g, shapes, readers, removed, mm, gemm_bias.empty() ? w->shape()[1] : 0);
    if (!gemm_bias.empty()) chain.bias = gemm_bias;
    if (!chain.column_scale.empty()) {
      const float* scale = passes::f32_constant(g, chain.column_scale)->data_as<float>();
      weights = scaled_columns(g, readers, weights, scale);
      if (chain.scale_after_bias) chain.bias = scaled_columns(g, readers, chain.bias, scale);
    }
    mm.domain = kCpuDomain;
    mm.op_type = "FusedMatMul";
    mm.attributes.clear();
    mm.inputs = {mm.inputs[0], weights, chain.bias, chain.residual};
    set_post_op_attributes(mm, chain);
    ++matmuls;
  }
  const int absorbed = count_absorbed(removed);
  drop_removed(g, removed);
  return absorbed;
}

}  // namespace sinter::cpu
