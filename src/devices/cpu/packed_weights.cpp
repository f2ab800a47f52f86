#include "devices/cpu/packed_weights.hpp"

#include <algorithm>
#include <string>

#include "base/mapped_file.hpp"

#include "devices/cpu/conv_fusion.hpp"

namespace sinter::cpu {

namespace {

bool flag(const ir::Node& n, const char* name) {
  const ir::Attribute* a = n.find(name);
  return a && a->i != 0;
}

// Stored elements per weight element: oneDNN's Winograd kernels keep F(2x2,3x3)'s 4×4 or
// F(4x4,3x3)'s 6×6 transformed tiles per 3×3 kernel (the implementation name says which;
// the larger when it does not).
double winograd_growth(const ir::Node& n) {
  if (!flag(n, "winograd")) return 1.0;
  const ir::Attribute* impl = n.find("onednn_impl");
  if (impl && impl->s.find("2x3") != std::string::npos) return 16.0 / 9.0;
  return 36.0 / 9.0;
}

}  // namespace

int64_t packed_weight_bytes(const ir::Graph& graph) {
  double bytes = 0;
  // Copies kept as f16 or int8 are widened into f32 for each run, one layer at a time: the
  // largest layer's widened copy is resident too.
  double widened = 0;
  for (const auto& n : graph.nodes) {
    if (n.domain != kCpuDomain || n.inputs.size() < 2) continue;
    const bool quantized = n.op_type == "DynamicQuantConv" || n.op_type == "DynamicQuantMatMul";
    if (n.op_type != "FusedConv" && n.op_type != "FusedMatMul" && !quantized) continue;
    if (flag(n, "direct_depthwise")) continue;  // reads the weights as stored
    auto w = graph.constants.find(n.inputs[1]);
    if (w == graph.constants.end()) continue;
    const double elements = static_cast<double>(w->second.element_count());
    const ir::Attribute* storage = n.find("weight_storage");
    const std::string kept = storage ? storage->s : "f32";
    const double element_bytes = quantized || kept == "int8"                ? 1.0
                                 : flag(n, "compute_bf16") || kept == "f16" ? 2.0
                                                                            : 4.0;
    const double packed = elements * element_bytes * winograd_growth(n);
    if (!quantized && (kept == "f16" || kept == "int8")) widened = std::max(widened, elements * 4);
    // FusedConv and FusedMatMul give back the pages of weights mapped from the model cache once
    // packed (ops/weight_packing.cpp): then only the growth adds to the
    // weights as stored.
    const bool originals_released =
        !quantized && MappedFile::contains(w->second.data(), w->second.byte_size());
    bytes += originals_released ? packed - double(w->second.byte_size()) : packed;
  }
  return static_cast<int64_t>(bytes + widened);
}

}  // namespace sinter::cpu
