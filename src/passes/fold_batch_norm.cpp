#include "passes/fold_batch_norm.hpp"

#include <cmath>

#include "base/mapped_file.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::passes {

namespace {

// The BN parameters when `bn` can be folded into a conv with `channels` outputs.
struct BnParams {
  const Tensor *scale, *beta, *mean, *var;
  float epsilon;
};

bool foldable_bn(const ir::Graph& g, const ir::Node& bn, int64_t channels, BnParams& p) {
  if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.size() != 5)
    return false;
  if (bn.attr_int("training_mode", 0) != 0) return false;
  for (std::size_t k = 1; k < bn.outputs.size(); ++k)
    if (!bn.outputs[k].empty()) return false;  // running statistics are asked for
  p = {f32_constant(g, bn.inputs[1]), f32_constant(g, bn.inputs[2]), f32_constant(g, bn.inputs[3]),
       f32_constant(g, bn.inputs[4]), bn.attr_float("epsilon", 1e-5f)};
  for (const Tensor* t : {p.scale, p.beta, p.mean, p.var})
    if (!t || t->element_count() != channels) return false;
  return true;
}

}  // namespace

int fold_batch_norm_into_conv(ir::Graph& g) {
  int folded = 0;
  auto readers = readers_of(g);
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& conv = g.nodes[i];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.inputs.size() < 2 ||
        conv.outputs.size() != 1)
      continue;
    const std::string& y = conv.outputs[0];
    const auto& r = readers[y];
    if (r.size() != 1 || is_graph_output(g, y)) continue;
    const Tensor* w = f32_constant(g, conv.inputs[1]);
    if (!w || w->rank() < 3) continue;
    const int64_t channels = w->shape()[0];
    const bool has_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty();
    const Tensor* b = has_bias ? f32_constant(g, conv.inputs[2]) : nullptr;
    if (has_bias && (!b || b->element_count() != channels)) continue;
    ir::Node& bn = g.nodes[r[0]];
    BnParams p;
    if (bn.inputs.empty() || bn.inputs[0] != y || !foldable_bn(g, bn, channels, p)) continue;

    Tensor new_w = Tensor::uninitialized(ElementType::f32, w->shape());  // written whole below
    Tensor new_b = Tensor::uninitialized(ElementType::f32, {channels});
    const int64_t per_channel = w->element_count() / channels;
    for (int64_t m = 0; m < channels; ++m) {
      const float s =
          p.scale->data_as<float>()[m] / std::sqrt(p.var->data_as<float>()[m] + p.epsilon);
      const float* src = w->data_as<float>() + m * per_channel;
      float* dst = new_w.data_as<float>() + m * per_channel;
      for (int64_t k = 0; k < per_channel; ++k) dst[k] = src[k] * s;
      const float bias = b ? b->data_as<float>()[m] : 0.f;
      new_b.data_as<float>()[m] =
          (bias - p.mean->data_as<float>()[m]) * s + p.beta->data_as<float>()[m];
    }
    // The originals were read once here; mapped from the model cache, they need not stay
    // resident next to the folded copy (a later read faults them in again).
    MappedFile::release_pages(w->data(), w->byte_size());
    // New names: the original weights may be shared with other nodes.
    const std::string w_name = fresh_constant_name(g, conv.inputs[1] + "_bn_folded");
    g.constants[w_name] = new_w;
    const std::string b_name = fresh_constant_name(g, bn.outputs[0] + "_bias");
    g.constants[b_name] = new_b;
    conv.inputs.resize(3);
    conv.inputs[1] = w_name;
    conv.inputs[2] = b_name;
    conv.outputs[0] = bn.outputs[0];
    conv.sources.insert(conv.sources.end(), bn.sources.begin(), bn.sources.end());
    removed[r[0]] = true;
    ++folded;
  }
  erase_nodes(g, removed);
  return folded;
}

}  // namespace sinter::passes
