#include "passes/fold_batch_norm.hpp"

#include <cmath>

#include "base/mapped_file.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::passes {

std::optional<ChannelAffine> batch_norm_affine(const ir::Graph& g, const ir::Node& bn,
                                               int64_t channels) {
  if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.size() != 5)
    return std::nullopt;
  if (bn.attr_int("training_mode", 0) != 0) return std::nullopt;
  for (std::size_t k = 1; k < bn.outputs.size(); ++k)
    if (!bn.outputs[k].empty()) return std::nullopt;  // running statistics are asked for
  const Tensor *scale = f32_constant(g, bn.inputs[1]), *beta = f32_constant(g, bn.inputs[2]),
               *mean = f32_constant(g, bn.inputs[3]), *var = f32_constant(g, bn.inputs[4]);
  for (const Tensor* t : {scale, beta, mean, var})
    if (!t || t->element_count() != channels) return std::nullopt;
  const float epsilon = bn.attr_float("epsilon", 1e-5f);
  ChannelAffine a;
  a.scale.resize(channels);
  a.shift.resize(channels);
  for (int64_t m = 0; m < channels; ++m) {
    a.scale[m] = scale->data_as<float>()[m] / std::sqrt(var->data_as<float>()[m] + epsilon);
    a.shift[m] = beta->data_as<float>()[m] - mean->data_as<float>()[m] * a.scale[m];
  }
  return a;
}

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
    if (bn.inputs.empty() || bn.inputs[0] != y) continue;
    const std::optional<ChannelAffine> affine = batch_norm_affine(g, bn, channels);
    if (!affine) continue;

    Tensor new_w = Tensor::uninitialized(ElementType::f32, w->shape());  // written whole below
    Tensor new_b = Tensor::uninitialized(ElementType::f32, {channels});
    const int64_t per_channel = w->element_count() / channels;
    for (int64_t m = 0; m < channels; ++m) {
      const float s = affine->scale[m];
      const float* src = w->data_as<float>() + m * per_channel;
      float* dst = new_w.data_as<float>() + m * per_channel;
      for (int64_t k = 0; k < per_channel; ++k) dst[k] = src[k] * s;
      const float bias = b ? b->data_as<float>()[m] : 0.f;
      new_b.data_as<float>()[m] = bias * s + affine->shift[m];
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
