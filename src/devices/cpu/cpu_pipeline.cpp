#include "devices/cpu/cpu_pipeline.hpp"

#include "devices/cpu/activation_fusion.hpp"
#include "devices/cpu/attention_fusion.hpp"
#include "devices/cpu/bf16_marking.hpp"
#include "devices/cpu/constant_folding.hpp"
#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/layout_propagation.hpp"
#include "devices/cpu/norm_fusion.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/squeeze_excite_fusion.hpp"
#include "devices/cpu/winograd_marking.hpp"
#include "ir/shape_inference.hpp"
#include "passes/optimize.hpp"
#include "passes/simplify.hpp"

namespace sinter::cpu {

CpuProgram optimize_for_cpu(const ir::Graph& graph, const std::string& precision,
                            const std::map<std::string, Shape>& input_shapes) {
  auto optimized = std::make_shared<ir::Graph>(graph);
  for (std::size_t i = 0; i < optimized->nodes.size(); ++i) optimized->nodes[i].sources = {i};
  for (auto& in : optimized->inputs) {
    auto it = input_shapes.find(in.name);
    if (it == input_shapes.end()) continue;
    in.has_shape = true;
    in.shape.clear();
    for (int64_t d : it->second) in.shape.push_back({d, ""});
  }
  passes::OptimizationReport report = passes::optimize_graph(*optimized);
  const int folded = fold_constants(*optimized);
  if (folded > 0) passes::remove_dead_nodes(*optimized);  // and the constants folded away
  report.applied.emplace_back("nodes folded into constants", folded);
  // Shapes before the CPU's own rewrites: its internal ops have no shape rules, and fused
  // nodes keep the output names of the nodes they replace.
  const ir::ShapeInference shapes = ir::infer_shapes(*optimized);
  report.applied.emplace_back("nodes fused into Swish/GELU activations",
                              fuse_activations(*optimized));
  report.applied.emplace_back("nodes fused into LayerNormalization",
                              fuse_layer_norms(*optimized, shapes));
  report.applied.emplace_back("nodes fused into GroupNorm", fuse_group_norms(*optimized, shapes));
  report.applied.emplace_back("nodes fused into Attention", fuse_attention(*optimized, shapes));
  int convs = 0;
  const int absorbed = fuse_convolutions(*optimized, shapes, convs);
  report.applied.emplace_back("Conv with pre-packed oneDNN weights", convs);
  report.applied.emplace_back("activations and Adds fused into Conv", absorbed);
  report.applied.emplace_back("nodes fused into SqueezeExcite",
                              fuse_squeeze_excite(*optimized, shapes));
  int matmuls = 0;
  const int absorbed_by_matmul = fuse_matmuls(*optimized, shapes, matmuls);
  report.applied.emplace_back("MatMul with pre-packed oneDNN weights", matmuls);
  report.applied.emplace_back("bias, activations and Adds fused into MatMul", absorbed_by_matmul);
  report.applied.emplace_back(
      "values kept in the convolutions' layout",
      keep_conv_layouts(*optimized, onednn::preferred_conv_layout(), shapes));
  CpuProgram program;
  program.precision = "f32";
  if (precision == "bf16") {
    const Bf16Marking marked = mark_bf16(*optimized);
    report.applied.emplace_back("nodes computing in bf16", marked.nodes);
    report.applied.emplace_back("values passed between them in bf16", marked.values);
    program.precision =
        "bf16 (convolutions other than grouped ones and matrix products with constant "
        "weights: bf16 inputs and weights, f32 accumulation; values between two of them bf16, "
        "other ops f32)";
  }
  report.applied.emplace_back("convolutions computed with Winograd's minimal filtering",
                              mark_winograd_convolutions(*optimized, shapes));
  const std::string summary = report.summary();
  program.notes = summary.empty() ? "" : "graph optimisation: " + summary;
  program.graph = std::move(optimized);
  return program;
}

}  // namespace sinter::cpu
