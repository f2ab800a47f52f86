#include "devices/cpu/node_threads.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>

namespace sinter::cpu {

namespace {

// Thresholds below which a node runs alone, measured on 2-core Zen 5 virtual machines (see
// docs/cpu-device.md#threads); SINTER_CPU_ALONE_ELEMENTS / SINTER_CPU_ALONE_MACS override them
// for A/B runs (0 turns the rule off).
double threshold(const char* env, double fallback) {
  const char* v = std::getenv(env);
  return v && *v ? std::atof(v) : fallback;
}

const double kAloneElements = threshold("SINTER_CPU_ALONE_ELEMENTS", 65536);
const double kAloneMacs = threshold("SINTER_CPU_ALONE_MACS", 1 << 20);

// Ops whose work is a product of their first two inputs: multiply-adds are about
// elements(in0) * elements(in1) / (the axis they are summed over).
bool is_product(const ir::Node& n) {
  static const std::set<std::string> products = {"Conv",
                                                 "ConvInteger",
                                                 "ConvTranspose",
                                                 "QLinearConv",
                                                 "MatMul",
                                                 "MatMulInteger",
                                                 "QLinearMatMul",
                                                 "Gemm",
                                                 "Einsum",
                                                 "LSTM",
                                                 "GRU",
                                                 "RNN",
                                                 "DynamicQuantizeLSTM",
                                                 "FusedConv",
                                                 "FusedMatMul",
                                                 "FusedConvTranspose",
                                                 "DynamicQuantConv",
                                                 "DynamicQuantMatMul",
                                                 "Attention",
                                                 "SqueezeExcite"};
  return products.count(n.op_type) > 0;
}

bool channels_first(const ir::Node& n) {
  return n.op_type.find("Conv") != std::string::npos;
}

}  // namespace

bool runs_alone(const ir::Node& node, const std::vector<const Value*>& inputs) {
  if (kAloneElements <= 0 && kAloneMacs <= 0) return false;
  for (const auto& [_, a] : node.attributes)
    if (a.g || !a.graphs.empty()) return false;
  double elements = 0;
  for (const Value* v : inputs) {
    if (!v) continue;
    if (v->is_tensor()) elements += static_cast<double>(v->tensor().element_count());
    if (v->is_sequence())
      for (const auto& t : v->sequence_items()) elements += static_cast<double>(t.element_count());
  }
  if (elements >= kAloneElements) return false;
  if (!is_product(node) || inputs.size() < 2 || !inputs[0] || !inputs[1] ||
      !inputs[0]->is_tensor() || !inputs[1]->is_tensor())
    return true;
  const Tensor& a = inputs[0]->tensor();
  const Tensor& b = inputs[1]->tensor();
  if (a.rank() < 2 || b.rank() < 2) return true;
  const int64_t summed = channels_first(node) ? a.shape()[1] : a.shape().back();
  double macs = static_cast<double>(a.element_count()) * static_cast<double>(b.element_count()) /
                static_cast<double>(summed > 0 ? summed : 1);
  // A strided convolution computes one output per stride step (the STFT-as-Conv of audio
  // models: a 256-tap window moved by 64).
  if (const ir::Attribute* strides = node.find("strides"); strides && channels_first(node))
    for (int64_t s : strides->ints) macs /= static_cast<double>(std::max<int64_t>(s, 1));
  return macs < kAloneMacs;
}

}  // namespace sinter::cpu
