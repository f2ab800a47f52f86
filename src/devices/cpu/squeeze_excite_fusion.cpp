#include "devices/cpu/squeeze_excite_fusion.hpp"

#include <algorithm>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

// The mean over all spatial axes of a rank-`rank` value, keeping dims.
bool spatial_mean(const GraphMatcher& m, const ir::Node& n, int64_t rank) {
  if (!n.domain.empty() || n.outputs.size() != 1) return false;
  if (n.op_type == "GlobalAveragePool") return n.inputs.size() == 1;
  if (n.op_type != "ReduceMean") return false;
  auto axes = m.kept_dims_reduce_axes(n);
  if (!axes || axes->empty()) return false;
  for (auto& a : *axes) a = a < 0 ? a + rank : a;
  std::sort(axes->begin(), axes->end());
  std::vector<int64_t> spatial;
  for (int64_t a = 2; a < rank; ++a) spatial.push_back(a);
  return *axes == spatial;
}

// A FusedConv that is a matrix-vector product on a [N, in, 1, ...] input: 1x1 kernel, one group,
// no padding, no residual, constant weights [out, in, 1, ...] (and bias), activations the kernel
// evaluates. Returns its weights.
const Tensor* pointwise_product(const ir::Graph& g, const ir::Node& n, int64_t in) {
  if (n.domain != kCpuDomain || n.op_type != "FusedConv" || n.inputs.size() < 2) return nullptr;
  if (n.inputs.size() > 3 && !n.inputs[3].empty()) return nullptr;
  if (const ir::Attribute* group = n.find("group"); group && group->i != 1) return nullptr;
  if (const ir::Attribute* pads = n.find("pads"))
    if (std::any_of(pads->ints.begin(), pads->ints.end(), [](int64_t p) { return p != 0; }))
      return nullptr;
  if (const ir::Attribute* post = n.find("post_ops"))
    for (const auto& kind : post->strings)
      if (!squeeze_excite_activation(kind)) return nullptr;
  const Tensor* w = passes::f32_constant(g, n.inputs[1]);
  if (!w || w->rank() < 3 || w->shape()[1] != in) return nullptr;
  for (int64_t i = 2; i < w->rank(); ++i)
    if (w->shape()[i] != 1) return nullptr;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor* b = passes::f32_constant(g, n.inputs[2]);
    if (!b || b->element_count() != w->shape()[0]) return nullptr;
  }
  return w;
}

void copy_post_ops(const ir::Node& from, ir::Node& to, const std::string& prefix) {
  for (const char* name : {"post_ops", "post_alpha", "post_beta"})
    if (const ir::Attribute* a = from.find(name)) to.attributes[prefix + name] = *a;
}

// From the Mul: s's producer chain back to a spatial mean of x. Absorbed count, 0 if no match.
int match(ir::Graph& g, const ir::ShapeInference& shapes, GraphMatcher& m, ir::Node& mul) {
  if (!mul.domain.empty() || mul.op_type != "Mul" || mul.inputs.size() != 2 ||
      mul.outputs.size() != 1)
    return 0;
  for (int side = 0; side < 2; ++side) {
    const std::string& x = mul.inputs[1 - side];
    const std::string& s = mul.inputs[side];
    const auto* dims = known_f32_dims(shapes, x);
    const auto* out = known_f32_dims(shapes, mul.outputs[0]);
    if (!dims || !out || *dims != *out || dims->size() < 3 || x == s) continue;
    const int64_t channels = (*dims)[1];
    ir::Node* excite = m.private_producer(s, "FusedConv", kCpuDomain);
    ir::Node* squeeze =
        excite ? m.private_producer(excite->inputs[0], "FusedConv", kCpuDomain) : nullptr;
    const std::string p = squeeze ? squeeze->inputs[0] : "";
    ir::Node* mean = squeeze ? m.private_producer(p, "GlobalAveragePool") : nullptr;
    if (squeeze && !mean) mean = m.private_producer(p, "ReduceMean");
    if (!mean || mean->inputs.empty() || mean->inputs[0] != x ||
        !spatial_mean(m, *mean, static_cast<int64_t>(dims->size())))
      continue;
    const Tensor* w1 = pointwise_product(g, *squeeze, channels);
    const Tensor* w2 = w1 ? pointwise_product(g, *excite, w1->shape()[0]) : nullptr;
    if (!w2 || w2->shape()[0] != channels) continue;
    for (const ir::Node* n : {mean, squeeze, excite}) m.remove(n);
    ir::Node fused;
    fused.op_type = "SqueezeExcite";
    fused.domain = kCpuDomain;
    fused.name = "SqueezeExcite_" + mul.outputs[0];
    auto input = [](const ir::Node& n, std::size_t i) {
      return i < n.inputs.size() ? n.inputs[i] : std::string();
    };
    fused.inputs = {x, input(*squeeze, 1), input(*squeeze, 2), input(*excite, 1),
                    input(*excite, 2)};
    fused.outputs = mul.outputs;
    copy_post_ops(*squeeze, fused, "squeeze_");
    copy_post_ops(*excite, fused, "excite_");
    // Time is reported on the first node it stands for (the mean).
    fused.sources = m.take_absorbed_sources();
    fused.sources.insert(fused.sources.end(), mul.sources.begin(), mul.sources.end());
    mul = std::move(fused);
    return 3;
  }
  return 0;
}

}  // namespace

bool squeeze_excite_activation(const std::string& k) {
  return k == "relu" || k == "leaky_relu" || k == "elu" || k == "sigmoid" || k == "tanh" ||
         k == "swish" || k == "gelu_erf" || k == "gelu_tanh" || k == "hard_swish" ||
         k == "hard_sigmoid" || k == "clip";
}

int fuse_squeeze_excite(ir::Graph& g, const ir::ShapeInference& shapes) {
  GraphMatcher m(g);
  int absorbed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (!m.removed(i)) absorbed += match(g, shapes, m, g.nodes[i]);
  m.erase_removed();
  return absorbed;
}

}  // namespace sinter::cpu
