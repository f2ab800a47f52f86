#include "devices/cpu/cpu_pipeline.hpp"

#include <map>
#include <unordered_set>

#include "devices/cpu/activation_fusion.hpp"
#include "devices/cpu/attention_fusion.hpp"
#include "devices/cpu/bf16_marking.hpp"
#include "devices/cpu/constant_folding.hpp"
#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/f16_widening.hpp"
#include "devices/cpu/gated_gelu_fusion.hpp"
#include "devices/cpu/int8_weights.hpp"
#include "devices/cpu/layout_propagation.hpp"
#include "devices/cpu/norm_fusion.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/qdq_matching.hpp"
#include "devices/cpu/reference_guard.hpp"
#include "devices/cpu/squeeze_excite_fusion.hpp"
#include "devices/cpu/winograd_marking.hpp"
#include "ir/shape_inference.hpp"
#include "passes/expand_qlinear.hpp"
#include "passes/optimize.hpp"
#include "passes/simplify.hpp"

namespace sinter::cpu {

namespace {

// The rewrites that need no layout decision: constants first (exporters store weights as
// Constant nodes or behind Cast/Identity; folding them makes them constants like initializers,
// so BatchNorm folding and the fusions below find them), then the device-independent passes,
// then the CPU's fusions. Weights behind DequantizeLinear stay integers until the quantized
// fusions have taken theirs; the rest are folded then, before the f32 fusions. The QOperator
// format is rewritten as QDQ first, so that both reach the same int8 fusions. Returns the shapes
// inferred before the CPU's own ops appear.
ir::ShapeInference rewrite(ir::Graph& g, passes::OptimizationReport& report) {
  report.applied.emplace_back("QLinearConv/QLinearMatMul written as QDQ",
                              passes::expand_qlinear_ops(g));
  report.applied.emplace_back("MaxPool moved before QuantizeLinear",
                              passes::move_max_pools_before_quantize(g));
  int folded = fold_constants(g, /*keep_dequantized_weights=*/true);
  passes::OptimizationReport generic = passes::optimize_graph(g);
  report.applied.insert(report.applied.end(), generic.applied.begin(), generic.applied.end());
  // Shapes before the CPU's own rewrites: its internal ops have no shape rules, and fused
  // nodes keep the output names of the nodes they replace.
  ir::ShapeInference shapes = ir::infer_shapes(g);
  report.applied.emplace_back("quantized MatMul as oneDNN int8 matrix products",
                              fuse_dynamic_quant_matmuls(g));
  report.applied.emplace_back("nodes fused into Swish/GELU activations", fuse_activations(g));
  report.applied.emplace_back("nodes fused into GEGLU gates", fuse_gated_gelus(g, shapes));
  report.applied.emplace_back("nodes fused into LayerNormalization", fuse_layer_norms(g, shapes));
  report.applied.emplace_back("nodes fused into GroupNorm", fuse_group_norms(g, shapes));
  report.applied.emplace_back("nodes fused into Attention", fuse_attention(g, shapes));
  int quant_convs = 0;
  const int absorbed_by_quant = fuse_dynamic_quant_convs(g, shapes, quant_convs);
  report.applied.emplace_back("quantized Conv as oneDNN int8 convolutions", quant_convs);
  report.applied.emplace_back("nodes fused into them", absorbed_by_quant);
  report.applied.emplace_back("QuantizeLinear-DequantizeLinear pairs in one pass",
                              fuse_quantize_dequantize_pairs(g));
  // Weight-only int8 (int8_weights.hpp) stays int8; the dequantized weights of QDQ layers not
  // fused above become f32 constants for the f32 fusions (those of fused layers are dropped
  // first, not folded).
  passes::remove_dead_nodes(g);
  const int int8_layers = keep_int8_weights(g);
  folded += fold_constants(g);
  report.applied.emplace_back("nodes folded into constants", folded);
  int convs = 0;
  const int absorbed = fuse_convolutions(g, shapes, convs);
  report.applied.emplace_back("Conv with pre-packed oneDNN weights", convs);
  report.applied.emplace_back("activations and Adds fused into Conv", absorbed);
  report.applied.emplace_back("nodes fused into SqueezeExcite", fuse_squeeze_excite(g, shapes));
  int matmuls = 0;
  const int absorbed_by_matmul = fuse_matmuls(g, shapes, matmuls);
  report.applied.emplace_back("MatMul with pre-packed oneDNN weights", matmuls);
  report.applied.emplace_back("bias, activations and Adds fused into MatMul", absorbed_by_matmul);
  report.applied.emplace_back("int8 weights kept as int8", int8_layers);
  report.applied.emplace_back("unfused layers given their int8 weights as f32",
                              widen_unfused_int8_weights(g));
  passes::remove_dead_nodes(g);  // weights the fusions replaced (scaled copies made)
  return shapes;
}

// Names `g` reads (its nodes and their own subgraphs) or returns without defining them: values
// of the enclosing graphs.
std::vector<std::string> outer_names(const ir::Graph& g) {
  std::unordered_set<std::string> defined, read;
  for (const auto& in : g.inputs) defined.insert(in.name);
  for (const auto& [name, _] : g.constants) defined.insert(name);
  for (const auto& n : g.nodes) {
    defined.insert(n.outputs.begin(), n.outputs.end());
    ir::collect_reads(n, read);
  }
  for (const auto& o : g.outputs) read.insert(o.name);
  std::vector<std::string> outer;
  for (const auto& name : read)
    if (!name.empty() && !defined.count(name)) outer.push_back(name);
  return outer;
}

// Constants of the enclosing graphs, by name (the innermost wins), as a body sees them.
using OuterConstants = std::map<std::string, Tensor>;

void optimize_subgraphs(ir::Graph& g, const OuterConstants& outer,
                        passes::OptimizationReport& report);

// A body (If branch, Loop or Scan body) gets the same rewrites as a graph, on its own copy (the
// model's graph shares its bodies). What it reads from enclosing graphs' constants becomes a
// constant of the copy (the tensor is shared, not copied), so that its weights are folded and
// fused as in a graph (Silero VAD's LSTM reads Unsqueeze(weights of the main graph) in an If
// branch); other values of enclosing graphs are declared as inputs of unknown shape while the
// passes run, so they treat those as what they are: computed elsewhere, neither constants nor
// dead.
std::shared_ptr<ir::Graph> optimized_body(const ir::Graph& body, const OuterConstants& outer,
                                          passes::OptimizationReport& report) {
  auto copy = std::make_shared<ir::Graph>(body);
  const std::size_t own_inputs = copy->inputs.size();
  for (const auto& name : outer_names(*copy)) {
    if (auto c = outer.find(name); c != outer.end()) {
      copy->constants.emplace(name, c->second);
      continue;
    }
    PortInfo p;
    p.name = name;
    p.kind = PortInfo::Kind::unknown;
    copy->inputs.push_back(p);
  }
  rewrite(*copy, report);
  copy->inputs.resize(own_inputs);
  optimize_subgraphs(*copy, outer, report);
  return copy;
}

void optimize_subgraphs(ir::Graph& g, const OuterConstants& enclosing,
                        passes::OptimizationReport& report) {
  // g's constants for its bodies: those it has besides its inputs' defaults (a caller may
  // replace those), shadowing the enclosing graphs' of the same name; names g defines
  // otherwise shadow them too.
  OuterConstants outer = enclosing;
  for (const auto& in : g.inputs) outer.erase(in.name);
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) outer.erase(o);
  for (const auto& [name, t] : g.constants) outer.insert_or_assign(name, t);
  for (const auto& in : g.inputs) outer.erase(in.name);
  for (auto& n : g.nodes) {
    for (auto& [_, a] : n.attributes) {
      if (a.g) a.g = optimized_body(*a.g, outer, report);
      for (auto& body : a.graphs) body = optimized_body(*body, outer, report);
    }
  }
}

}  // namespace

namespace {

// Sets weight_storage on the fused convolutions and matrix products whose constant weights they
// pack in f32 (not bf16 ones, already half; not Winograd ones, whose transformed layout oneDNN
// cannot convert from int8): their packed copies are kept as `storage` (ops/weight_packing.hpp).
// Those whose model stores int8 codes keep them whatever the setting (`from_model` counts them).
int mark_weight_storage(ir::Graph& g, const std::string& storage, int& from_model) {
  from_model = 0;
  int marked = 0;
  for (ir::Node& n : g.nodes) {
    if (n.domain != kCpuDomain || (n.op_type != "FusedConv" && n.op_type != "FusedMatMul") ||
        n.inputs.size() < 2 || !g.constants.count(n.inputs[1]))
      continue;
    if (has_int8_weights(n)) {
      n.attributes["weight_storage"].kind = ir::Attribute::Kind::s;
      n.attributes["weight_storage"].s = "int8";
      ++from_model;
      continue;
    }
    if (storage == "f32") continue;
    const ir::Attribute* bf16 = n.find("compute_bf16");
    const ir::Attribute* winograd = n.find("winograd");
    if ((bf16 && bf16->i) || (winograd && winograd->i)) continue;
    n.attributes["weight_storage"].kind = ir::Attribute::Kind::s;
    n.attributes["weight_storage"].s = storage;
    ++marked;
  }
  return marked;
}

}  // namespace

CpuProgram optimize_for_cpu(const ir::Graph& graph, const CpuChoices& choices,
                            const std::map<std::string, Shape>& input_shapes) {
  const std::string& precision = choices.precision;
  auto optimized = std::make_shared<ir::Graph>(graph);
  for (std::size_t i = 0; i < optimized->nodes.size(); ++i) optimized->nodes[i].sources = {i};
  for (auto& in : optimized->inputs) {
    auto it = input_shapes.find(in.name);
    if (it == input_shapes.end()) continue;
    in.has_shape = true;
    in.shape.clear();
    for (int64_t d : it->second) in.shape.push_back({d, ""});
  }
  passes::OptimizationReport report;
  report.applied.emplace_back("f16 values computed in f32", widen_f16(*optimized));
  const ir::ShapeInference shapes = rewrite(*optimized, report);
  passes::OptimizationReport in_bodies;
  optimize_subgraphs(*optimized, {}, in_bodies);
  for (auto& [what, count] : in_bodies.applied) {
    if (count > 0) report.applied.emplace_back(what + " (in If/Loop/Scan bodies)", count);
  }
  // Post-ops no JIT kernel takes fused become nodes of their own before layouts are chosen, so
  // that layout propagation sees them as it sees any other op.
  int split = avoid_reference_kernels(*optimized, shapes);
  report.applied.emplace_back(
      "values kept in the convolutions' layout",
      keep_conv_layouts(*optimized, onednn::preferred_conv_layout(), shapes));
  CpuProgram program;
  program.precision = "f32";
  // Weights kept as f16 or int8 are kept so to save memory; Winograd's transformed weights are
  // f32 and up to 4x as large again (SD 1.5 with --weights f16: 3129 MiB with them, 3 GiB is
  // the point), so those models compute directly.
  const int winograd =
      choices.weights == "f32"
          ? mark_winograd_convolutions(*optimized, shapes, /*before_bf16=*/precision == "bf16")
          : 0;
  report.applied.emplace_back("convolutions computed with Winograd's minimal filtering", winograd);
  if (precision == "bf16") {
    const Bf16Marking marked = mark_bf16(*optimized);
    report.applied.emplace_back("nodes computing in bf16", marked.nodes);
    report.applied.emplace_back("values passed between them in bf16", marked.values);
    program.precision =
        "bf16 (convolutions other than grouped ones and matrix products with constant "
        "weights: bf16 inputs and weights, f32 accumulation; values between two of them bf16, "
        "other ops f32" +
        std::string(winograd > 0 ? "; large 3x3 convolutions in f32 with Winograd, faster here"
                                 : "") +
        ")";
  }
  // Again with the precisions and algorithms chosen since (bf16, Winograd), recording the
  // kernel each fused node gets.
  split += avoid_reference_kernels(*optimized, shapes);
  int stored_int8 = 0;
  const int compressed = mark_weight_storage(*optimized, choices.weights, stored_int8);
  report.applied.emplace_back("layers whose packed weights are kept as " + choices.weights,
                              compressed);
  if (stored_int8 > 0)
    program.precision += "; weights of " + std::to_string(stored_int8) +
                         " convolutions and matrix products kept as the model stores them, int8 "
                         "with one scale per output channel, widened per layer and run";
  if (compressed > 0)
    program.precision += "; weights of " + std::to_string(compressed) +
                         " convolutions and matrix products kept as " + choices.weights +
                         (choices.weights == "int8" ? " (one scale per output channel)" : "") +
                         ", widened to f32 per layer and run";
  report.applied.emplace_back(
      "fused nodes whose post-ops run separately (oneDNN has only its reference kernel fused)",
      split);
  const std::string summary = report.summary();
  program.notes = summary.empty() ? "" : "graph optimisation: " + summary;
  program.graph = std::move(optimized);
  return program;
}

}  // namespace sinter::cpu
