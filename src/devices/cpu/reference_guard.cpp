#include "devices/cpu/reference_guard.hpp"

#include <exception>
#include <optional>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"
#include "devices/cpu/int8_weights.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_descriptor.hpp"
#include "devices/cpu/ops/depthwise_direct.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

// The implementation oneDNN picks for the fused node `n` as its kernel would make it, or
// nothing when the shapes are not known or oneDNN has no implementation at all (the kernel
// reports that when it runs).
std::optional<std::string> onednn_impl(const ir::Graph& g, const ir::ShapeInference& shapes,
                                       const ir::Node& n) {
  const auto* x = known_f32_dims(shapes, n.inputs[0]);
  const Tensor* w = layer_weights(g, n);
  if (!x || !w) return std::nullopt;
  try {
    if (n.op_type == "FusedConv") {
      const ConvGeometry geometry = ir::conv_window(n, *x, w->shape(), false);
      return std::string(
          fused_conv_primitive_desc(n, conv_dims(*x, w->shape(), geometry)).impl_info_str());
    }
    if (w->rank() != 2 || x->empty() || x->back() != w->shape()[0]) return std::nullopt;
    int64_t m = 1;
    for (std::size_t i = 0; i + 1 < x->size(); ++i) m *= (*x)[i];
    const bool bias = n.inputs.size() > 2 && !n.inputs[2].empty();
    return std::string(
        fused_matmul_primitive_desc(n, m, w->shape()[0], w->shape()[1], bias).impl_info_str());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The node's post-ops shortened to the first `keep`.
ir::Node with_post_ops(const ir::Node& n, std::size_t keep) {
  ir::Node copy = n;
  for (const char* attr : {"post_ops", "post_alpha", "post_beta"}) {
    ir::Attribute& a = copy.attributes[attr];
    if (a.kind == ir::Attribute::Kind::strings) a.strings.resize(keep);
    if (a.kind == ir::Attribute::Kind::floats) a.floats.resize(keep);
  }
  return copy;
}

std::string scalar_constant(ir::Graph& g, const std::string& base, float v) {
  const std::string name = passes::fresh_constant_name(g, base);
  Tensor t(ElementType::f32, {});
  t.data_as<float>()[0] = v;
  g.constants[name] = t;
  return name;
}

// The node(s) computing post-op `kind` on `in` into `out` (elementwise, so the layout the
// values are kept in does not matter).
std::vector<ir::Node> post_op_nodes(ir::Graph& g, const std::string& kind, float alpha, float beta,
                                    const std::string& in, const std::string& out,
                                    const std::string& residual) {
  auto node = [&](std::string op, std::vector<std::string> inputs, const std::string& output,
                  const std::string& domain = "") {
    ir::Node n;
    n.name = output;
    n.op_type = std::move(op);
    n.domain = domain;
    n.inputs = std::move(inputs);
    n.outputs = {output};
    return n;
  };
  auto with_float = [](ir::Node n, const char* name, float v) {
    n.attributes[name].kind = ir::Attribute::Kind::f;
    n.attributes[name].f = v;
    return n;
  };
  if (kind == "sum") return {node("Add", {in, residual}, out)};
  if (kind == "relu") return {node("Relu", {in}, out)};
  if (kind == "sigmoid") return {node("Sigmoid", {in}, out)};
  if (kind == "tanh") return {node("Tanh", {in}, out)};
  if (kind == "hard_swish") return {node("HardSwish", {in}, out)};
  if (kind == "leaky_relu") return {with_float(node("LeakyRelu", {in}, out), "alpha", alpha)};
  if (kind == "elu") return {with_float(node("Elu", {in}, out), "alpha", alpha)};
  if (kind == "hard_sigmoid")
    return {with_float(with_float(node("HardSigmoid", {in}, out), "alpha", alpha), "beta", beta)};
  if (kind == "swish") return {with_float(node("Swish", {in}, out, kCpuDomain), "alpha", alpha)};
  if (kind == "gelu_erf") return {node("GeluErf", {in}, out, kCpuDomain)};
  if (kind == "gelu_tanh") return {node("GeluTanh", {in}, out, kCpuDomain)};
  if (kind == "clip")
    return {
        node("Clip",
             {in, scalar_constant(g, out + "_min", alpha), scalar_constant(g, out + "_max", beta)},
             out)};
  if (kind == "linear") {
    const std::string scaled = passes::fresh_constant_name(g, out + "_scaled");
    return {node("Mul", {in, scalar_constant(g, out + "_alpha", alpha)}, scaled),
            node("Add", {scaled, scalar_constant(g, out + "_beta", beta)}, out)};
  }
  return {};
}

}  // namespace

int avoid_reference_kernels(ir::Graph& g, const ir::ShapeInference& shapes) {
  int split = 0;
  std::vector<ir::Node> added;
  for (ir::Node& n : g.nodes) {
    if (n.domain == kCpuDomain && n.op_type == "DynamicQuantConv") {
      // Its kernel takes the int8 primitive where it is exact and not the reference one, and an
      // f32 convolution of the same integers otherwise: record which.
      // Its kernel takes the same decisions (ops_dynamic_quant_conv.cpp).
      const auto* x = known_f32_dims(shapes, n.inputs[0]);
      auto w = g.constants.find(n.inputs[1]);
      if (!x || w == g.constants.end()) continue;
      std::string impl;
      try {
        const ConvGeometry geometry = ir::conv_window(n, *x, w->second.shape(), false);
        const ConvDims dims = conv_dims(*x, w->second.shape(), geometry);
        const Tensor* scales = passes::f32_constant(g, n.inputs[2]);
        const Tensor* bias = passes::f32_constant(g, n.inputs[3]);
        const Tensor* correction = passes::f32_constant(g, n.inputs[4]);
        std::vector<float> fused_bias;
        if (scales && bias && correction) {
          if (const auto pd =
                  fused_int8_conv_primitive_desc(n, dims, *scales, *bias, *correction, fused_bias))
            impl = pd->impl_info_str();
        }
        if (impl.empty() && onednn::exact_int8_products()) {
          try {
            impl = int8_conv_primitive_desc(dims).impl_info_str();
          } catch (const dnnl::error&) {
          }
          if (is_reference(impl)) impl.clear();
        }
        if (impl.empty()) {
          bool fused = false;
          impl = quant_conv_f32_primitive_desc(n, dims, fused).impl_info_str();
          if (!fused) impl += "; scaling and post-ops in C++";
        }
      } catch (const std::exception&) {
        continue;  // the kernel reports it when it runs
      }
      n.attributes["onednn_impl"].kind = ir::Attribute::Kind::s;
      n.attributes["onednn_impl"].s = impl;
      continue;
    }
    if (n.domain == kCpuDomain && n.op_type == "DynamicQuantMatMul") {
      // Likewise (ops_dynamic_quant_matmul.cpp), for the rows the shapes give.
      const auto* x = known_f32_dims(shapes, n.inputs[0]);
      auto w = g.constants.find(n.inputs[1]);
      if (!x || x->empty() || w == g.constants.end() || w->second.rank() != 2) continue;
      int64_t m = 1;
      for (std::size_t i = 0; i + 1 < x->size(); ++i) m *= (*x)[i];
      const int64_t k = w->second.shape()[0], cols = w->second.shape()[1];
      std::string impl;
      try {
        bool int8 = false;
        impl = quant_matmul_primitive_desc(m, k, cols, int8).impl_info_str();
      } catch (const std::exception&) {
        continue;  // the kernel reports it when it runs
      }
      n.attributes["onednn_impl"].kind = ir::Attribute::Kind::s;
      n.attributes["onednn_impl"].s = impl;
      continue;
    }
    if (n.domain != kCpuDomain || (n.op_type != "FusedConv" && n.op_type != "FusedMatMul"))
      continue;
    std::optional<std::string> impl = onednn_impl(g, shapes, n);
    if (!impl) continue;
    const ir::Attribute* post = n.find("post_ops");
    const std::size_t count = post ? post->strings.size() : 0;
    std::size_t keep = count;
    // Shorter post-op lists until a JIT kernel takes them. The ops left over are then computed
    // on the node's output in whatever layout it is kept: a residual to add must be kept so too,
    // and a bf16 output has no f32 readers to hand it to.
    const bool residual_same_layout =
        n.attr_string("residual_layout", "") == n.attr_string("dst_layout", "");
    const bool splittable = !n.attr_int("dst_bf16", 0);
    while (is_reference(*impl) && keep > 0 && splittable) {
      const bool drops_sum = post->strings[keep - 1] == "sum";
      if (drops_sum && !residual_same_layout) break;
      const std::optional<std::string> shorter = onednn_impl(g, shapes, with_post_ops(n, keep - 1));
      --keep;
      if (shorter) impl = shorter;
    }
    if (keep < count && !is_reference(*impl)) {
      const std::vector<std::string> kinds = post->strings;
      const std::vector<float> alpha = n.find("post_alpha")->floats,
                               beta = n.find("post_beta")->floats;
      n = with_post_ops(n, keep);
      const std::string residual = n.inputs.size() > 3 ? n.inputs[3] : "";
      bool sum_left = false;
      for (std::size_t k = 0; k < keep; ++k) sum_left = sum_left || kinds[k] == "sum";
      if (!sum_left && n.inputs.size() > 3) {
        n.inputs[3].clear();
        n.attributes.erase("residual_layout");
      }
      std::string value = passes::fresh_constant_name(g, n.outputs[0] + "_before_post_ops");
      const std::string final_output = n.outputs[0];
      n.outputs[0] = value;
      ir::Attribute& separate = n.attributes["separate_post_ops"];
      separate.kind = ir::Attribute::Kind::strings;
      for (std::size_t k = keep; k < count; ++k) {
        separate.strings.push_back(kinds[k]);
        const std::string out = k + 1 == count
                                    ? final_output
                                    : passes::fresh_constant_name(g, final_output + "_post_op");
        for (ir::Node& op : post_op_nodes(g, kinds[k], alpha[k], beta[k], value, out, residual))
          added.push_back(std::move(op));
        value = out;
      }
      ++split;
    }
    n.attributes["onednn_impl"].kind = ir::Attribute::Kind::s;
    n.attributes["onednn_impl"].s = *impl;
    // The kernel's own choice for depthwise shapes oneDNN only has a gemm-based kernel for.
    if (n.op_type == "FusedConv") {
      const auto* x = known_f32_dims(shapes, n.inputs[0]);
      const Tensor* w = layer_weights(g, n);
      const ConvGeometry geometry = ir::conv_window(n, *x, w->shape(), false);
      // Decided again on the second pass: layouts chosen since may rule it out.
      if (prefers_direct_depthwise(n, conv_dims(*x, w->shape(), geometry), *impl)) {
        n.attributes["direct_depthwise"].kind = ir::Attribute::Kind::i;
        n.attributes["direct_depthwise"].i = 1;
      } else {
        n.attributes.erase("direct_depthwise");
      }
    }
  }
  if (!added.empty()) {
    g.nodes.insert(g.nodes.end(), added.begin(), added.end());
    ir::validate(g);  // the separate post-op nodes move next to their convolution
  }
  return split;
}

}  // namespace sinter::cpu
