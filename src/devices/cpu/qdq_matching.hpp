// Recognises the QDQ format of statically quantized models (ONNX Runtime's quantize_static,
// Intel Neural Compressor, TensorFlow's QAT exports): an activation x reaches its readers as
// DequantizeLinear(QuantizeLinear(x, s, z), s, z), and a layer's weights as
// DequantizeLinear(int8 or uint8 constant, per-channel scales, zero points). The CPU device
// runs such a layer as one oneDNN int8 primitive (conv_fusion.hpp: DynamicQuantConv and
// DynamicQuantMatMul with a fixed input scale and zero point); the other readers of a
// quantized activation get QuantizeDequantize, one vectorised pass for the pair.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.hpp"

namespace sinter::cpu {

// Value name -> index of the node that makes it.
using ProducerIndex = std::unordered_map<std::string, std::size_t>;
ProducerIndex producer_index(const ir::Graph& graph);

// An activation quantized with constant per-tensor parameters, as the uint8 codes the
// quantized kernels take: int8 codes are shifted by 128 (q + 128 in [0, 255]) and so is their
// zero point, which leaves q - zero_point, all the arithmetic needs, unchanged.
struct StaticQuantizedInput {
  std::string x;  // the f32 value QuantizeLinear reads
  float scale = 1;
  int zero_point = 0;  // in the uint8 codes' terms
};

// `value` as DequantizeLinear(QuantizeLinear(x, s, z), s, z) with equal constant scalar
// parameters (8-bit codes), or nothing.
std::optional<StaticQuantizedInput> static_quantized_input(const ir::Graph& graph,
                                                           const ProducerIndex& producer,
                                                           const std::string& value);

// `value` as DequantizeLinear(codes, scales, zero points) of constant 8-bit codes whose scales
// (and zero points) are per tensor or along `axis` (negative: from the end).
struct DequantizedWeights {
  std::string codes;             // the 8-bit constant
  bool u8 = false;               // uint8 codes (else int8)
  std::vector<float> scales;     // one or one per index along the axis
  std::vector<int> zero_points;  // one or one per index along the axis
};
std::optional<DequantizedWeights> dequantized_weights(const ir::Graph& graph,
                                                      const ProducerIndex& producer,
                                                      const std::string& value, int64_t axis);

// Every DequantizeLinear that static_quantized_input matches and that nothing fused becomes
// QuantizeDequantize(x){scale, zero_point, low, high} in one pass (domain sinter.cpu). Returns
// how many.
int fuse_quantize_dequantize_pairs(ir::Graph& graph);

}  // namespace sinter::cpu
