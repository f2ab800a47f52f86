#include "passes/quantize_weights.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_set>

#include "passes/fold_batch_norm.hpp"
#include "passes/graph_rewrite.hpp"
#include "passes/simplify.hpp"

namespace sinter::passes {

namespace {

// The axis of `weights` along which reader `n` (reading it as input `k`) has its output
// channels, or nothing when n reads it otherwise.
std::optional<int64_t> output_channel_axis(const ir::Node& n, std::size_t k, int64_t rank) {
  if (!n.domain.empty() || k != 1) return std::nullopt;
  if (n.op_type == "Conv" && rank >= 3 && rank <= 5) return 0;
  if (n.op_type == "MatMul" && rank == 2) return 1;
  if (n.op_type == "Gemm" && rank == 2) return n.attr_int("transB", 0) != 0 ? 0 : 1;
  return std::nullopt;
}

// The one axis every reader of `name` wants, or nothing.
std::optional<int64_t> agreed_axis(const ir::Graph& g, const std::vector<std::size_t>& readers,
                                   const std::string& name, int64_t rank) {
  std::optional<int64_t> axis;
  for (std::size_t r : readers) {
    const ir::Node& n = g.nodes[r];
    // A reader inside an If/Loop body, or reading it twice, is not a plain weight input.
    if (std::count(n.inputs.begin(), n.inputs.end(), name) != 1) return std::nullopt;
    const std::size_t k = static_cast<std::size_t>(
        std::find(n.inputs.begin(), n.inputs.end(), name) - n.inputs.begin());
    const auto a = output_channel_axis(n, k, rank);
    if (!a || (axis && *axis != *a)) return std::nullopt;
    axis = a;
  }
  return axis;
}

struct Quantized {
  Tensor codes, scales;
};

// W [..., C along `axis`, ...] as int8 codes and C scales; nothing if W is not all finite.
std::optional<Quantized> quantize(const Tensor& w, int64_t axis) {
  const Shape& shape = w.shape();
  const int64_t channels = shape[static_cast<std::size_t>(axis)];
  int64_t inner = 1;
  for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t outer = channels ? w.element_count() / (channels * inner) : 0;
  const float* v = w.data_as<float>();
  auto at = [&](int64_t o, int64_t c, int64_t i) { return (o * channels + c) * inner + i; };
  Quantized q{Tensor::uninitialized(ElementType::i8, shape),
              Tensor::uninitialized(ElementType::f32, {channels})};
  float* scale = q.scales.data_as<float>();
  std::fill(scale, scale + channels, 0.0f);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const float x = v[at(o, c, i)];
        if (!std::isfinite(x)) return std::nullopt;
        scale[c] = std::max(scale[c], std::fabs(x));
      }
  for (int64_t c = 0; c < channels; ++c) scale[c] = scale[c] > 0 ? scale[c] / 127.0f : 1.0f;
  int8_t* codes = q.codes.data_as<int8_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const double code = std::nearbyint(static_cast<double>(v[at(o, c, i)]) / scale[c]);
        codes[at(o, c, i)] = static_cast<int8_t>(std::clamp(code, -127.0, 127.0));
      }
  return q;
}

}  // namespace

int quantize_weights_int8(ir::Graph& g) {
  fold_batch_norm_into_conv(g);
  remove_dead_nodes(g);  // the weights before folding
  const auto readers = readers_of(g);
  std::vector<ir::Node> dequantizers;
  std::vector<std::string> replaced;
  std::unordered_set<std::string> graph_inputs;
  for (const auto& in : g.inputs) graph_inputs.insert(in.name);
  for (const auto& [name, w] : g.constants) {
    if (w.element_type() != ElementType::f32 || w.element_count() < kInt8WeightMinElements ||
        is_graph_output(g, name) || graph_inputs.count(name))
      continue;
    auto r = readers.find(name);
    if (r == readers.end()) continue;
    const auto axis = agreed_axis(g, r->second, name, w.rank());
    if (!axis) continue;
    auto q = quantize(w, *axis);
    if (!q) continue;
    const std::string codes = fresh_constant_name(g, name + "_int8");
    g.constants[codes] = std::move(q->codes);
    const std::string scales = fresh_constant_name(g, name + "_scale");
    g.constants[scales] = std::move(q->scales);
    ir::Node dq;
    dq.name = name + "_dequantize";
    dq.op_type = "DequantizeLinear";
    dq.inputs = {codes, scales};
    dq.outputs = {name};
    dq.attributes["axis"].kind = ir::Attribute::Kind::i;
    dq.attributes["axis"].i = *axis;
    dequantizers.push_back(std::move(dq));
    replaced.push_back(name);
  }
  for (const auto& name : replaced) g.constants.erase(name);
  // They read constants only: first, ahead of every reader.
  g.nodes.insert(g.nodes.begin(), dequantizers.begin(), dequantizers.end());
  // Per-axis scales are DequantizeLinear's since opset 13; the model's opset is left as it is
  // (raising it would change other ops' meaning), sinter reads the axis at any opset.
  return static_cast<int>(dequantizers.size());
}

Tensor dequantized_codes(const Tensor& codes, const float* scales, int64_t count, int64_t axis,
                         const Tensor* zero) {
  const bool u8 = codes.element_type() == ElementType::u8;
  int64_t inner = 1;
  if (count > 1)
    for (int64_t d = axis + 1; d < codes.rank(); ++d) inner *= codes.shape()[d];
  auto code = [&](const Tensor& t, int64_t i) {
    return u8 ? int(t.data_as<uint8_t>()[i]) : int(t.data_as<int8_t>()[i]);
  };
  Tensor out = Tensor::uninitialized(ElementType::f32, codes.shape());
  for (int64_t i = 0; i < codes.element_count(); ++i) {
    const int64_t c = count > 1 ? i / inner % count : 0;
    out.data_as<float>()[i] =
        static_cast<float>(code(codes, i) - (zero ? code(*zero, c) : 0)) * scales[c];
  }
  return out;
}

Tensor dequantized_constant(const ir::Graph& g, const ir::Node& n) {
  const Tensor& codes = g.constants.at(n.inputs[0]);
  const Tensor& scales = g.constants.at(n.inputs[1]);
  const Tensor* zero =
      n.inputs.size() > 2 && !n.inputs[2].empty() ? &g.constants.at(n.inputs[2]) : nullptr;
  int64_t axis = n.attr_int("axis", 1);
  axis = axis < 0 ? axis + codes.rank() : axis;
  return dequantized_codes(codes, scales.data_as<float>(), scales.element_count(), axis, zero);
}

}  // namespace sinter::passes
