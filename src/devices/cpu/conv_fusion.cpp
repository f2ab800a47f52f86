#include "devices/cpu/conv_fusion.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "devices/cpu/int8_weights.hpp"
#include "devices/cpu/qdq_matching.hpp"
#include "ir/shape_inference.hpp"
#include "passes/fold_batch_norm.hpp"
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
  // Conv only: a per-output-channel affine (Mul/Add/Sub/Div by constants broadcast along the
  // channels, BatchNormalization) right after the convolution, folded into weights and bias.
  std::optional<passes::ChannelAffine> affine;
};

// The constant `t` as one value per channel of a conv output of rank `rank` with `channels`
// channels: a scalar (repeated) or a tensor whose only non-1 dim, aligned to the output's
// dims from the right as broadcasting does, is the channel axis.
std::optional<std::vector<float>> per_channel(const Tensor* t, int64_t channels, int64_t rank) {
  if (!t) return std::nullopt;
  if (t->element_count() == 1) return std::vector<float>(channels, t->data_as<float>()[0]);
  if (t->element_count() != channels || t->rank() > rank || t->rank() + 1 < rank)
    return std::nullopt;
  const int64_t channel_dim = 1 - (rank - t->rank());  // t's dim that lands on axis 1
  for (int64_t d = 0; d < t->rank(); ++d)
    if (t->shape()[d] != (d == channel_dim ? channels : 1)) return std::nullopt;
  const float* v = t->data_as<float>();
  return std::vector<float>(v, v + channels);
}

// `next` as a per-channel affine of `value` (the output of a conv with `channels` channels and
// rank `rank`): x*k, k*x, x+k, k+x, x-k, x/k with k constant per channel, or BatchNormalization.
std::optional<passes::ChannelAffine> channel_affine(const ir::Graph& g, const ir::Node& next,
                                                    const std::string& value, int64_t channels,
                                                    int64_t rank) {
  if (!next.domain.empty() || next.outputs.size() != 1 || next.inputs.empty() ||
      next.inputs[0].empty())
    return std::nullopt;
  if (next.op_type == "BatchNormalization")
    return next.inputs[0] == value ? passes::batch_norm_affine(g, next, channels) : std::nullopt;
  const bool commutes = next.op_type == "Mul" || next.op_type == "Add";
  if (next.inputs.size() != 2 || (next.op_type != "Sub" && next.op_type != "Div" && !commutes))
    return std::nullopt;
  const int side = next.inputs[0] == value ? 1 : 0;
  if (next.inputs[1 - side] != value || next.inputs[side] == value || (side == 0 && !commutes))
    return std::nullopt;
  const auto k = per_channel(passes::f32_constant(g, next.inputs[side]), channels, rank);
  if (!k) return std::nullopt;
  passes::ChannelAffine a{std::vector<float>(channels, 1.f), std::vector<float>(channels, 0.f)};
  for (int64_t c = 0; c < channels; ++c) {
    if (next.op_type == "Mul") a.scale[c] = (*k)[c];
    if (next.op_type == "Div") a.scale[c] = 1.f / (*k)[c];
    if (next.op_type == "Add") a.shift[c] = (*k)[c];
    if (next.op_type == "Sub") a.shift[c] = -(*k)[c];
  }
  return a;
}

// `next` as alpha * value + beta with scalar constants (Mul, Add, Sub or Div by a scalar):
// oneDNN's linear post-op.
std::optional<PostOp> scalar_linear(const ir::Graph& g, const ir::Node& next,
                                    const std::string& value) {
  if (!next.domain.empty() || next.outputs.size() != 1 || next.inputs.size() != 2) return {};
  const bool commutes = next.op_type == "Mul" || next.op_type == "Add";
  if (next.op_type != "Sub" && next.op_type != "Div" && !commutes) return std::nullopt;
  const int side = next.inputs[0] == value ? 1 : 0;
  if (next.inputs[1 - side] != value || next.inputs[side] == value || (side == 0 && !commutes))
    return std::nullopt;
  const Tensor* k = passes::f32_constant(g, next.inputs[side]);
  if (!k || k->element_count() != 1) return std::nullopt;
  const float v = k->data_as<float>()[0];
  if (next.op_type == "Mul") return PostOp{"linear", v, 0.f};
  if (next.op_type == "Div") return PostOp{"linear", 1.f / v, 0.f};
  return PostOp{"linear", 1.f, next.op_type == "Add" ? v : -v};
}

// a after b: x -> (x * b.scale + b.shift) * a.scale + a.shift.
passes::ChannelAffine compose(const passes::ChannelAffine& a, const passes::ChannelAffine& b) {
  passes::ChannelAffine r = b;
  for (std::size_t c = 0; c < r.scale.size(); ++c) {
    r.scale[c] = b.scale[c] * a.scale[c];
    r.shift[c] = b.shift[c] * a.scale[c] + a.shift[c];
  }
  return r;
}

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
// with that many elements become the bias (MatMul). `conv_channels` > 0 lets per-channel affine
// ops right after the node be folded into it (a Conv of that many output channels and output
// rank `conv_rank`).
Chain follow_chain(const ir::Graph& g, const ir::ShapeInference& shapes,
                   const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                   std::vector<bool>& removed, ir::Node& node, int64_t bias_channels,
                   int64_t conv_channels = 0, int64_t conv_rank = 0) {
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
    std::optional<passes::ChannelAffine> affine;
    if (conv_channels > 0 && c.post.empty() && c.residual.empty())
      affine = channel_affine(g, next, c.output, conv_channels, conv_rank);
    std::optional<PostOp> linear;
    if (!affine && !c.post.empty()) linear = scalar_linear(g, next, c.output);
    if (affine) {
      c.affine = c.affine ? compose(*affine, *c.affine) : *affine;
    } else if (linear) {
      // Two affine steps in a row are one: c (a x + b) + d.
      if (c.post.back().kind == "linear") {
        PostOp& last = c.post.back();
        last.beta = linear->alpha * last.beta + linear->beta;
        last.alpha *= linear->alpha;
      } else {
        c.post.push_back(*linear);
      }
    } else if (binary_add && c.post.empty() && c.bias.empty() && bias_channels > 0 &&
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

namespace {

// New weights and bias for a conv whose outputs are then scaled and shifted per channel:
// W'[oc] = W[oc] * scale[oc], B'[oc] = B[oc] * scale[oc] + shift[oc]. A Conv's output channel
// is the weights' first axis; a ConvTranspose's weights are [C_in, C_out / group, k...], output
// channel g * (C_out / group) + j being column j of group g's input channels. The originals
// stay where other nodes read them.
void fold_affine(ir::Graph& g, ir::Node& conv, bool transposed, int64_t group,
                 const passes::ChannelAffine& a) {
  const int64_t channels = static_cast<int64_t>(a.scale.size());
  Tensor bias = Tensor::uninitialized(ElementType::f32, {channels});
  const Tensor* old_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty()
                               ? passes::f32_constant(g, conv.inputs[2])
                               : nullptr;
  for (int64_t oc = 0; oc < channels; ++oc)
    bias.data_as<float>()[oc] =
        (old_bias ? old_bias->data_as<float>()[oc] * a.scale[oc] : 0.f) + a.shift[oc];
  const std::string b_name = passes::fresh_constant_name(g, conv.outputs[0] + "_bias");
  g.constants[b_name] = std::move(bias);
  conv.inputs.resize(std::max<std::size_t>(conv.inputs.size(), 3));
  conv.inputs[2] = b_name;
  if (has_int8_weights(conv)) {  // int8 codes: the output channels' scales take the factor
    scale_int8_weights(conv, a.scale.data());
    return;
  }
  const Tensor& w = *passes::f32_constant(g, conv.inputs[1]);
  Tensor folded = Tensor::uninitialized(ElementType::f32, w.shape());
  const float* from = w.data_as<float>();
  float* to = folded.data_as<float>();
  const int64_t taps = element_count(Shape(w.shape().begin() + 2, w.shape().end()));
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t oc = transposed ? r / (rows / group) * cols + c : r;
      const int64_t at = (r * cols + c) * taps;
      for (int64_t t = 0; t < taps; ++t) to[at + t] = from[at + t] * a.scale[oc];
    }
  }
  const std::string w_name = passes::fresh_constant_name(g, conv.inputs[1] + "_affine");
  g.constants[w_name] = std::move(folded);
  conv.inputs[1] = w_name;
}

}  // namespace

int fuse_convolutions(ir::Graph& g, const ir::ShapeInference& shapes, int& convs) {
  convs = 0;
  const auto readers = passes::readers_of(g);
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& conv = g.nodes[i];
    const bool transposed = conv.op_type == "ConvTranspose";
    if (removed[i] || (conv.op_type != "Conv" && !transposed) || !conv.domain.empty() ||
        conv.inputs.size() < 2 || conv.outputs.size() != 1 || conv.inputs[0].empty())
      continue;
    const Tensor* w = layer_weights(g, conv);
    if (!w || w->rank() < 3 || w->rank() > 5) continue;
    if (conv.inputs.size() > 2 && !conv.inputs[2].empty() &&
        !passes::f32_constant(g, conv.inputs[2]))
      continue;
    if (transposed && w->rank() > 4) continue;  // 3-D: the plain kernel
    const int64_t group = std::max<int64_t>(1, conv.attr_int("group", 1));
    if (w->shape()[0] % group != 0) continue;  // left to the plain kernel, which names the error
    const int64_t channels = transposed ? w->shape()[1] * group : w->shape()[0];
    const Chain chain = follow_chain(g, shapes, readers, removed, conv, 0, channels, w->rank());
    if (chain.affine) fold_affine(g, conv, transposed, group, *chain.affine);
    conv.domain = kCpuDomain;
    conv.op_type = transposed ? "FusedConvTranspose" : "FusedConv";
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

// The integer constant `name` (uint8 or int8) as ints, or nothing.
std::optional<std::vector<int>> small_int_constant(const ir::Graph& g, const std::string& name) {
  auto it = g.constants.find(name);
  if (it == g.constants.end()) return std::nullopt;
  const Tensor& t = it->second;
  std::vector<int> v(static_cast<std::size_t>(t.element_count()));
  if (t.element_type() == ElementType::u8) {
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = t.data_as<uint8_t>()[i];
  } else if (t.element_type() == ElementType::i8) {
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = t.data_as<int8_t>()[i];
  } else {
    return std::nullopt;
  }
  return v;
}

// The one reader of `value` when it is `op` (and `value` no graph output), else nullptr.
ir::Node* only_reader(ir::Graph& g,
                      const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                      const std::string& value, const char* op) {
  auto r = readers.find(value);
  if (r == readers.end() || r->second.size() != 1 || passes::is_graph_output(g, value))
    return nullptr;
  ir::Node& n = g.nodes[r->second[0]];
  return n.op_type == op && n.domain.empty() ? &n : nullptr;
}

// A quantized convolution's parts, whichever way the model wrote it.
struct QuantConvParts {
  std::string x;            // the f32 input the kernel quantizes
  std::string weights;      // the 8-bit weight codes (a constant)
  std::vector<int> wq, wz;  // the codes as ints; their zero points (one or one per channel)
  std::vector<float> ws;    // the weights' scale per output channel
  std::string int_bias;     // the older dynamic quantizer's integer bias, or ""
  std::vector<float> bias;  // QDQ: the Conv's own f32 bias (empty: none)
  std::optional<StaticQuantizedInput> fixed;  // QDQ: the input's fixed quantization
};

// Rewrites `node` in place as DynamicQuantConv(x, w_s8, scales, bias, correction, residual)
// with the post-ops and per-channel affine of `chain`.
void emit_quant_conv(ir::Graph& g, ir::Node& node, const Chain& chain, const QuantConvParts& p) {
  const Tensor& w_tensor = g.constants.at(p.weights);
  const int64_t channels = w_tensor.shape()[0];
  // oneDNN's int8 weights are s8 with no zero point: w_s8 = wq - base (128 for uint8, 0 for
  // int8) and wq - wz = w_s8 + (base - wz): the kernel adds (base - wz) times the window sums
  // of the centred input (a correction as cheap as a one-channel convolution).
  const int base = w_tensor.element_type() == ElementType::u8 ? 128 : 0;
  Tensor w_out(ElementType::i8, w_tensor.shape());
  for (std::size_t k = 0; k < p.wq.size(); ++k)
    w_out.data_as<int8_t>()[k] = static_cast<int8_t>(p.wq[k] - base);
  Tensor correction(ElementType::f32, {channels});
  Tensor scale_out(ElementType::f32, {channels}), bias_out(ElementType::f32, {channels});
  for (int64_t c = 0; c < channels; ++c) {
    correction.data_as<float>()[c] = static_cast<float>(base - p.wz[p.wz.size() == 1 ? 0 : c]);
    // The chain's per-channel affine k y + m of y = acc * ws + b: scales k ws, bias k b + m.
    const float k = chain.affine ? chain.affine->scale[c] : 1.f;
    const float m = chain.affine ? chain.affine->shift[c] : 0.f;
    const float b = p.bias.empty() ? 0.f : p.bias[c];
    scale_out.data_as<float>()[c] = p.ws[c] * k;
    bias_out.data_as<float>()[c] =
        !p.int_bias.empty() ? passes::f32_constant(g, p.int_bias)->data_as<float>()[c] : k * b + m;
  }
  const std::string w_name = passes::fresh_constant_name(g, p.weights + "_s8");
  const std::string s_name = passes::fresh_constant_name(g, p.weights + "_scales");
  const std::string b_name = passes::fresh_constant_name(g, chain.output + "_bias");
  const std::string d_name = passes::fresh_constant_name(g, p.weights + "_zero_correction");
  g.constants[d_name] = std::move(correction);
  g.constants[w_name] = std::move(w_out);
  g.constants[s_name] = std::move(scale_out);
  g.constants[b_name] = std::move(bias_out);
  node.domain = kCpuDomain;
  node.op_type = "DynamicQuantConv";
  node.inputs = {p.x, w_name, s_name, b_name, d_name, chain.residual};
  if (!p.int_bias.empty()) {
    node.attributes["integer_bias"].kind = ir::Attribute::Kind::i;
    node.attributes["integer_bias"].i = 1;
  }
  if (p.fixed) {
    node.attributes["input_scale"].kind = ir::Attribute::Kind::f;
    node.attributes["input_scale"].f = p.fixed->scale;
    node.attributes["input_zero_point"].kind = ir::Attribute::Kind::i;
    node.attributes["input_zero_point"].i = p.fixed->zero_point;
  }
  set_post_op_attributes(node, chain);
}

// A QDQ convolution: Conv(DequantizeLinear(QuantizeLinear(x)), DequantizeLinear(w8), bias)
// with fixed scalar input parameters, 8-bit weights per tensor or per output channel and an
// f32 bias (its DequantizeLinear folded already). Rewrites `conv` and returns true, or leaves it.
bool fuse_qdq_conv(ir::Graph& g, const ir::ShapeInference& shapes,
                   const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                   const ProducerIndex& producer, std::vector<bool>& removed, ir::Node& conv) {
  if (conv.inputs.size() < 2 || conv.outputs.size() != 1) return false;
  const auto in = static_quantized_input(g, producer, conv.inputs[0]);
  const auto w = in ? dequantized_weights(g, producer, conv.inputs[1], 0) : std::nullopt;
  if (!w) return false;
  const Tensor& codes = g.constants.at(w->codes);
  if (codes.rank() < 3 || codes.rank() > 4) return false;  // 1-D and 2-D
  const int64_t channels = codes.shape()[0];
  std::vector<float> bias;
  if (conv.inputs.size() > 2 && !conv.inputs[2].empty()) {
    const Tensor* b = passes::f32_constant(g, conv.inputs[2]);
    if (!b || b->element_count() != channels) return false;
    bias.assign(b->data_as<float>(), b->data_as<float>() + channels);
  }
  QuantConvParts parts;
  parts.x = in->x;
  parts.weights = w->codes;
  parts.wq = *small_int_constant(g, w->codes);
  parts.wz = w->zero_points;
  for (int64_t c = 0; c < channels; ++c)
    parts.ws.push_back(w->scales[w->scales.size() == 1 ? 0 : c]);
  parts.bias = std::move(bias);
  parts.fixed = in;
  const Chain chain = follow_chain(g, shapes, readers, removed, conv, 0, channels, codes.rank());
  emit_quant_conv(g, conv, chain, parts);
  return true;
}

}  // namespace

int fuse_dynamic_quant_convs(ir::Graph& g, const ir::ShapeInference& shapes, int& convs) {
  convs = 0;
  const auto readers = passes::readers_of(g);
  const ProducerIndex producer = producer_index(g);
  auto made_by = [&](const std::string& v, const char* op) -> ir::Node* {
    auto p = producer.find(v);
    if (p == producer.end()) return nullptr;
    ir::Node& n = g.nodes[p->second];
    return n.op_type == op && n.domain.empty() ? &n : nullptr;
  };
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& ci = g.nodes[i];
    if (!removed[i] && ci.op_type == "Conv" && ci.domain.empty() &&
        fuse_qdq_conv(g, shapes, readers, producer, removed, ci)) {
      ++convs;
      continue;
    }
    if (removed[i] || ci.op_type != "ConvInteger" || !ci.domain.empty() || ci.inputs.size() < 3 ||
        ci.outputs.size() != 1)
      continue;
    // The input quantized by a DynamicQuantizeLinear, with that node's zero point.
    const ir::Node* dql = made_by(ci.inputs[0], "DynamicQuantizeLinear");
    if (!dql || dql->outputs.size() != 3 || dql->outputs[0] != ci.inputs[0] ||
        dql->outputs[2] != ci.inputs[2])
      continue;
    // Constant weights and weight zero point (per tensor or per output channel).
    const auto wq = small_int_constant(g, ci.inputs[1]);
    const Tensor& w_tensor =
        g.constants.count(ci.inputs[1]) ? g.constants.at(ci.inputs[1]) : Tensor();
    if (!wq || w_tensor.rank() < 3 || w_tensor.rank() > 4) continue;  // 1-D and 2-D
    const int64_t channels = w_tensor.shape()[0];
    std::vector<int> wz = {0};
    if (ci.inputs.size() > 3 && !ci.inputs[3].empty()) {
      auto z = small_int_constant(g, ci.inputs[3]);
      if (!z || (z->size() != 1 && static_cast<int64_t>(z->size()) != channels)) continue;
      wz = *z;
    }
    // The older quantizer (producer onnx.quantize 0.1) adds the bias in integers first:
    // ConvInteger + [Reshape] Cast<int32>(Floor(Div(bias, xs * ws))).
    ir::Node* int_bias_add = only_reader(g, readers, ci.outputs[0], "Add");
    std::string int_bias;
    if (int_bias_add && int_bias_add->inputs.size() == 2) {
      std::string v = int_bias_add->inputs[0] == ci.outputs[0] ? int_bias_add->inputs[1]
                                                               : int_bias_add->inputs[0];
      if (const ir::Node* reshape = made_by(v, "Reshape")) v = reshape->inputs[0];
      const ir::Node* to_int = made_by(v, "Cast");
      const ir::Node* floor = to_int ? made_by(to_int->inputs[0], "Floor") : nullptr;
      const ir::Node* div = floor ? made_by(floor->inputs[0], "Div") : nullptr;
      const Tensor* b = div ? passes::f32_constant(g, div->inputs[0]) : nullptr;
      const ir::Node* div_scale = div ? made_by(div->inputs[1], "Mul") : nullptr;
      if (!to_int || to_int->attr_int("to", 0) != static_cast<int64_t>(ElementType::i32) || !b ||
          b->element_count() != channels || !div_scale ||
          std::find(div_scale->inputs.begin(), div_scale->inputs.end(), dql->outputs[1]) ==
              div_scale->inputs.end())
        continue;
      int_bias = div->inputs[0];
    }
    // Cast<f32>(ConvInteger [+ integer bias]) * (xs * ws).
    ir::Node* cast = only_reader(
        g, readers, int_bias.empty() ? ci.outputs[0] : int_bias_add->outputs[0], "Cast");
    if (!cast || cast->attr_int("to", 0) != static_cast<int64_t>(ElementType::f32)) continue;
    ir::Node* mul = only_reader(g, readers, cast->outputs[0], "Mul");
    if (!mul || mul->inputs.size() != 2) continue;
    const std::string scale = mul->inputs[0] == cast->outputs[0] ? mul->inputs[1] : mul->inputs[0];
    const ir::Node* scales = made_by(scale, "Mul");
    if (!scales || scales->inputs.size() != 2) continue;
    const int xs_side = scales->inputs[0] == dql->outputs[1] ? 0 : 1;
    if (scales->inputs[xs_side] != dql->outputs[1]) continue;
    const Tensor* ws_tensor = passes::f32_constant(g, scales->inputs[1 - xs_side]);
    if (!ws_tensor || (ws_tensor->element_count() != 1 && ws_tensor->element_count() != channels))
      continue;
    std::vector<float> ws(channels);
    for (int64_t c = 0; c < channels; ++c)
      ws[c] = ws_tensor->data_as<float>()[ws_tensor->element_count() == 1 ? 0 : c];
    const std::size_t mul_index = static_cast<std::size_t>(mul - g.nodes.data());
    const std::size_t cast_index = static_cast<std::size_t>(cast - g.nodes.data());
    if (removed[mul_index] || removed[cast_index]) continue;
    removed[cast_index] = removed[mul_index] = true;
    if (!int_bias.empty()) {
      removed[static_cast<std::size_t>(int_bias_add - g.nodes.data())] = true;
      ci.sources.insert(ci.sources.end(), int_bias_add->sources.begin(),
                        int_bias_add->sources.end());
    }
    // An integer bias is divided by the weights' own scale: no per-channel affine may change
    // the scales after it.
    const Chain chain = follow_chain(g, shapes, readers, removed, *mul, 0,
                                     int_bias.empty() ? channels : 0, w_tensor.rank());
    ci.sources.insert(ci.sources.end(), cast->sources.begin(), cast->sources.end());
    ci.sources.insert(ci.sources.end(), mul->sources.begin(), mul->sources.end());
    QuantConvParts parts;
    parts.x = dql->inputs[0];
    parts.weights = ci.inputs[1];
    parts.wq = *wq;
    parts.wz = wz;
    parts.ws = ws;
    parts.int_bias = int_bias;
    emit_quant_conv(g, ci, chain, parts);
    ++convs;
  }
  const int absorbed = count_absorbed(removed);
  drop_removed(g, removed);
  return absorbed;
}

namespace {

// A quantized matrix product's parts, whichever way the model wrote it.
struct QuantMatMulParts {
  std::string x;                 // the f32 input the kernel quantizes
  Shape shape;                   // the weights' [K, N]
  std::vector<int> wq, wz;       // the codes as ints, [K, N] row-major; zero points (1 or N)
  bool u8 = false;               // uint8 codes
  std::vector<float> ws;         // the weights' scale (1 or N values)
  const Tensor* bias = nullptr;  // a constant [N] added after, or nullptr
  std::optional<StaticQuantizedInput> fixed;  // QDQ: the input's fixed quantization
};

// Rewrites `node` in place as DynamicQuantMatMul(x, w_s8, ws, correction, bias).
void emit_quant_matmul(ir::Graph& g, ir::Node& node, const std::string& name_base,
                       const QuantMatMulParts& p) {
  const int64_t n = p.shape[1];
  // s8 weights and the correction to wq - wz, as for DynamicQuantConv.
  const int base = p.u8 ? 128 : 0;
  Tensor w_s8(ElementType::i8, p.shape);
  for (std::size_t k = 0; k < p.wq.size(); ++k)
    w_s8.data_as<int8_t>()[k] = static_cast<int8_t>(p.wq[k] - base);
  Tensor scale_out(ElementType::f32, {n}), correction(ElementType::f32, {n});
  for (int64_t c = 0; c < n; ++c) {
    scale_out.data_as<float>()[c] = p.ws[p.ws.size() == 1 ? 0 : c];
    correction.data_as<float>()[c] = static_cast<float>(base - p.wz[p.wz.size() == 1 ? 0 : c]);
  }
  std::string b_name;
  if (p.bias) {
    Tensor b(ElementType::f32, {n});
    std::copy_n(p.bias->data_as<float>(), n, b.data_as<float>());
    b_name = passes::fresh_constant_name(g, name_base + "_bias");
    g.constants[b_name] = std::move(b);
  }
  const std::string w_name = passes::fresh_constant_name(g, name_base + "_s8");
  const std::string s_name = passes::fresh_constant_name(g, name_base + "_scales");
  const std::string d_name = passes::fresh_constant_name(g, name_base + "_zero_correction");
  g.constants[w_name] = std::move(w_s8);
  g.constants[s_name] = std::move(scale_out);
  g.constants[d_name] = std::move(correction);
  node.domain = kCpuDomain;
  node.op_type = "DynamicQuantMatMul";
  node.attributes.clear();
  if (p.fixed) {
    node.attributes["input_scale"].kind = ir::Attribute::Kind::f;
    node.attributes["input_scale"].f = p.fixed->scale;
    node.attributes["input_zero_point"].kind = ir::Attribute::Kind::i;
    node.attributes["input_zero_point"].i = p.fixed->zero_point;
  }
  node.inputs = {p.x, w_name, s_name, d_name, b_name};
}

// The constant [N] vector (or [1, N]) added to `value` by its only reader, an Add: that Add,
// or nullptr.
ir::Node* bias_add(ir::Graph& g,
                   const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                   const std::string& value, int64_t n, const Tensor*& bias) {
  ir::Node* add = only_reader(g, readers, value, "Add");
  bias = nullptr;
  if (!add || add->inputs.size() != 2) return nullptr;
  const std::string& other = add->inputs[0] == value ? add->inputs[1] : add->inputs[0];
  bias = passes::f32_constant(g, other);
  if (!bias || bias->element_count() != n || bias->rank() < 1 || bias->shape().back() != n)
    bias = nullptr;
  return bias ? add : nullptr;
}

float float_attr(const ir::Node& n, const char* name, float fallback) {
  const ir::Attribute* a = n.find(name);
  return a ? a->f : fallback;
}

// A QDQ matrix product: MatMul(DequantizeLinear(QuantizeLinear(x)), DequantizeLinear(w8 [K, N]))
// [+ constant bias], or Gemm(the same, [bias]) with alpha = beta = 1, A not transposed (B
// transposed or not), scales per tensor or per output column. Rewrites the node and returns
// true, or leaves it.
bool fuse_qdq_matmul(ir::Graph& g,
                     const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                     const ProducerIndex& producer, std::vector<bool>& removed, ir::Node& node) {
  const bool gemm = node.op_type == "Gemm";
  if ((!gemm && node.op_type != "MatMul") || !node.domain.empty() || node.inputs.size() < 2 ||
      node.outputs.size() != 1)
    return false;
  const bool trans_b = gemm && node.attr_int("transB", 0) != 0;
  if (gemm && (node.attr_int("transA", 0) != 0 || float_attr(node, "alpha", 1.f) != 1.f ||
               float_attr(node, "beta", 1.f) != 1.f))
    return false;
  const auto in = static_quantized_input(g, producer, node.inputs[0]);
  const auto w =
      in ? dequantized_weights(g, producer, node.inputs[1], trans_b ? 0 : 1) : std::nullopt;
  if (!w) return false;
  const Tensor& codes = g.constants.at(w->codes);
  if (codes.rank() != 2) return false;
  const int64_t k = codes.shape()[trans_b ? 1 : 0], n = codes.shape()[trans_b ? 0 : 1];
  QuantMatMulParts parts;
  parts.x = in->x;
  parts.shape = {k, n};
  parts.u8 = w->u8;
  parts.wz = w->zero_points;
  parts.ws = w->scales;
  parts.fixed = in;
  const auto wq = small_int_constant(g, w->codes);
  parts.wq.resize(wq->size());
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) parts.wq[r * n + c] = (*wq)[trans_b ? c * k + r : r * n + c];
  ir::Node* add = nullptr;
  if (gemm && node.inputs.size() > 2 && !node.inputs[2].empty()) {
    parts.bias = passes::f32_constant(g, node.inputs[2]);
    if (!parts.bias || parts.bias->element_count() != n || parts.bias->shape().back() != n)
      return false;
  } else {
    add = bias_add(g, readers, node.outputs[0], n, parts.bias);
  }
  if (add) {
    const std::size_t add_index = static_cast<std::size_t>(add - g.nodes.data());
    if (removed[add_index]) return false;
    removed[add_index] = true;
    node.sources.insert(node.sources.end(), add->sources.begin(), add->sources.end());
    node.outputs = {add->outputs[0]};
  }
  emit_quant_matmul(g, node, w->codes, parts);
  return true;
}

}  // namespace

int fuse_dynamic_quant_matmuls(ir::Graph& g) {
  const auto readers = passes::readers_of(g);
  const ProducerIndex producer = producer_index(g);
  auto made_by = [&](const std::string& v, const char* op) -> const ir::Node* {
    auto p = producer.find(v);
    if (p == producer.end()) return nullptr;
    const ir::Node& n = g.nodes[p->second];
    return n.op_type == op && n.domain.empty() ? &n : nullptr;
  };
  std::vector<bool> removed(g.nodes.size(), false);
  int rewritten = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& mi = g.nodes[i];
    if (!removed[i] && fuse_qdq_matmul(g, readers, producer, removed, mi)) {
      ++rewritten;
      continue;
    }
    if (removed[i] || mi.op_type != "MatMulInteger" || !mi.domain.empty() || mi.inputs.size() < 3 ||
        mi.outputs.size() != 1)
      continue;
    const ir::Node* dql = made_by(mi.inputs[0], "DynamicQuantizeLinear");
    if (!dql || dql->outputs.size() != 3 || dql->outputs[2] != mi.inputs[2]) continue;
    const auto wq = small_int_constant(g, mi.inputs[1]);
    const Tensor& w = g.constants.count(mi.inputs[1]) ? g.constants.at(mi.inputs[1]) : Tensor();
    if (!wq || w.rank() != 2) continue;
    const int64_t n = w.shape()[1];
    std::vector<int> wz = {0};
    if (mi.inputs.size() > 3 && !mi.inputs[3].empty()) {
      auto z = small_int_constant(g, mi.inputs[3]);
      if (!z || (z->size() != 1 && static_cast<int64_t>(z->size()) != n)) continue;
      wz = *z;
    }
    ir::Node* cast = only_reader(g, readers, mi.outputs[0], "Cast");
    if (!cast || cast->attr_int("to", 0) != static_cast<int64_t>(ElementType::f32)) continue;
    ir::Node* mul = only_reader(g, readers, cast->outputs[0], "Mul");
    if (!mul || mul->inputs.size() != 2) continue;
    const std::string scale = mul->inputs[0] == cast->outputs[0] ? mul->inputs[1] : mul->inputs[0];
    const ir::Node* scales = made_by(scale, "Mul");
    if (!scales || scales->inputs.size() != 2) continue;
    const int xs_side = scales->inputs[0] == dql->outputs[1] ? 0 : 1;
    if (scales->inputs[xs_side] != dql->outputs[1]) continue;
    const Tensor* ws = passes::f32_constant(g, scales->inputs[1 - xs_side]);
    if (!ws || (ws->element_count() != 1 && ws->element_count() != n)) continue;
    // A following Add of a constant [N] vector (Gemm's bias) is added by the kernel too.
    QuantMatMulParts parts;
    ir::Node* add = bias_add(g, readers, mul->outputs[0], n, parts.bias);
    parts.x = dql->inputs[0];
    parts.shape = w.shape();
    parts.wq = *wq;
    parts.wz = wz;
    parts.u8 = w.element_type() == ElementType::u8;
    parts.ws.assign(ws->data_as<float>(), ws->data_as<float>() + ws->element_count());
    mi.sources.insert(mi.sources.end(), cast->sources.begin(), cast->sources.end());
    mi.sources.insert(mi.sources.end(), mul->sources.begin(), mul->sources.end());
    removed[static_cast<std::size_t>(cast - g.nodes.data())] = true;
    removed[static_cast<std::size_t>(mul - g.nodes.data())] = true;
    mi.outputs = {mul->outputs[0]};
    if (add) {
      mi.sources.insert(mi.sources.end(), add->sources.begin(), add->sources.end());
      removed[static_cast<std::size_t>(add - g.nodes.data())] = true;
      mi.outputs = {add->outputs[0]};
    }
    emit_quant_matmul(g, mi, mi.inputs[1], parts);
    ++rewritten;
  }
  drop_removed(g, removed);
  return rewritten;
}

namespace {

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
  const Tensor* w = layer_weights(g, gemm);
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
  // f32 weights or int8 codes (whose scales, per output column, stay as they are).
  Tensor wt = Tensor::uninitialized(w->element_type(), {k, n});
  const std::size_t size = w->byte_size() / static_cast<std::size_t>(std::max<int64_t>(1, n * k));
  const auto* from = static_cast<const unsigned char*>(w->data());
  auto* to = static_cast<unsigned char*>(wt.data());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t col = 0; col < k; ++col)
      std::memcpy(to + static_cast<std::size_t>(col * n + r) * size,
                  from + static_cast<std::size_t>(r * k + col) * size, size);
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
    // Weights must be a constant matrix (f32, or int8 codes with their scales).
    const bool int8 = has_int8_weights(mm);
    const Tensor* w = int8 ? (g.constants.count(weights) ? &g.constants.at(weights) : nullptr)
                           : passes::f32_constant(g, weights);
    if (!w || w->rank() != 2) continue;
    // A Gemm's own bias comes first; then no following Add can be the bias.
    Chain chain =
        follow_chain(g, shapes, readers, removed, mm, gemm_bias.empty() ? w->shape()[1] : 0);
    if (!gemm_bias.empty()) chain.bias = gemm_bias;
    if (!chain.column_scale.empty()) {
      const float* scale = passes::f32_constant(g, chain.column_scale)->data_as<float>();
      if (int8)
        scale_int8_weights(mm, scale);
      else
        weights = scaled_columns(g, readers, weights, scale);
      if (chain.scale_after_bias) chain.bias = scaled_columns(g, readers, chain.bias, scale);
    }
    mm.domain = kCpuDomain;
    mm.op_type = "FusedMatMul";
    std::erase_if(mm.attributes, [](const auto& a) { return a.first != "weight_scales"; });
    mm.inputs = {mm.inputs[0], weights, chain.bias, chain.residual};
    set_post_op_attributes(mm, chain);
    ++matmuls;
  }
  const int absorbed = count_absorbed(removed);
  drop_removed(g, removed);
  return absorbed;
}

}  // namespace sinter::cpu
