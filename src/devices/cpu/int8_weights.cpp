#include "devices/cpu/int8_weights.hpp"

#include <algorithm>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/qdq_matching.hpp"
#include "passes/graph_rewrite.hpp"
#include "passes/quantize_weights.hpp"

namespace sinter::cpu {

namespace {

constexpr const char* kScales = "weight_scales";

// The axis of the codes along which `reader` has its output channels when it reads them as
// weights (input 1 only), or -1.
int64_t output_channel_axis(const ir::Graph& g, const ir::Node& reader, const std::string& value,
                            int64_t rank) {
  if (!reader.domain.empty() || reader.inputs.size() < 2 || reader.inputs[1] != value ||
      std::count(reader.inputs.begin(), reader.inputs.end(), value) != 1 ||
      reader.inputs[0].empty() || g.constants.count(reader.inputs[0]))
    return -1;
  if (reader.op_type == "Conv" && rank >= 3 && rank <= 5) return 0;
  if (reader.op_type == "MatMul" && rank == 2) return 1;
  if (reader.op_type == "Gemm" && rank == 2) return reader.attr_int("transB", 0) ? 0 : 1;
  return -1;
}

}  // namespace

bool has_int8_weights(const ir::Node& n) {
  return n.find(kScales) != nullptr;
}

const Tensor* layer_weights(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() < 2) return nullptr;
  if (!has_int8_weights(n)) return passes::f32_constant(g, n.inputs[1]);
  auto it = g.constants.find(n.inputs[1]);
  return it != g.constants.end() && it->second.element_type() == ElementType::i8 ? &it->second
                                                                                 : nullptr;
}

void scale_int8_weights(ir::Node& n, const float* factor) {
  std::vector<float>& scales = n.attributes.at(kScales).floats;
  for (std::size_t c = 0; c < scales.size(); ++c) scales[c] *= factor[c];
}

int keep_int8_weights(ir::Graph& g) {
  const ProducerIndex producer = producer_index(g);
  const auto readers = passes::readers_of(g);
  std::vector<bool> removed(g.nodes.size(), false);
  int kept = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& dq = g.nodes[i];
    if (dq.op_type != "DequantizeLinear" || !dq.domain.empty() || dq.outputs.size() != 1 ||
        dq.inputs.empty() || passes::is_graph_output(g, dq.outputs[0]))
      continue;
    const std::string& value = dq.outputs[0];
    auto r = readers.find(value);
    auto c = g.constants.find(dq.inputs[0]);
    if (r == readers.end() || c == g.constants.end()) continue;
    const int64_t rank = c->second.rank();
    int64_t axis = -1;
    for (std::size_t k : r->second) {
      const int64_t a = output_channel_axis(g, g.nodes[k], value, rank);
      axis = (a < 0 || (axis >= 0 && a != axis)) ? -2 : a;
      if (axis == -2) break;
    }
    if (axis < 0) continue;
    const auto w = dequantized_weights(g, producer, value, axis);
    if (!w || w->u8 ||
        std::any_of(w->zero_points.begin(), w->zero_points.end(), [](int z) { return z != 0; }))
      continue;
    ir::Attribute scales;
    scales.kind = ir::Attribute::Kind::floats;
    scales.floats = w->scales;
    scales.floats.resize(static_cast<std::size_t>(c->second.shape()[axis]), w->scales[0]);
    for (std::size_t k : r->second) {
      ir::Node& reader = g.nodes[k];
      reader.inputs[1] = w->codes;
      reader.attributes[kScales] = scales;
      reader.sources.insert(reader.sources.end(), dq.sources.begin(), dq.sources.end());
    }
    removed[i] = true;
    ++kept;
  }
  passes::erase_nodes(g, removed);
  return kept;
}

int widen_unfused_int8_weights(ir::Graph& g) {
  int widened = 0;
  for (ir::Node& n : g.nodes) {
    if (!has_int8_weights(n) ||
        (n.domain == kCpuDomain && (n.op_type == "FusedConv" || n.op_type == "FusedMatMul")))
      continue;
    const Tensor& codes = g.constants.at(n.inputs[1]);
    const std::vector<float>& scales = n.find(kScales)->floats;
    // The scales run along axis 0 (Conv, Gemm with transB) or the last axis (MatMul, Gemm).
    const bool leading = n.op_type == "Conv" || (n.op_type == "Gemm" && n.attr_int("transB", 0));
    Tensor w = passes::dequantized_codes(codes, scales.data(), static_cast<int64_t>(scales.size()),
                                         leading ? 0 : codes.rank() - 1);
    const std::string name = passes::fresh_constant_name(g, n.inputs[1] + "_widened");
    g.constants[name] = std::move(w);
    n.inputs[1] = name;
    n.attributes.erase(kScales);
    ++widened;
  }
  return widened;
}

}  // namespace sinter::cpu
