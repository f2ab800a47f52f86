#include "devices/cpu/winograd_marking.hpp"

#include <exception>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_descriptor.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

int mark_winograd_convolutions(ir::Graph& g, const ir::ShapeInference& shapes, bool before_bf16) {
  int marked = 0;
  for (ir::Node& n : g.nodes) {
    if (n.domain != kCpuDomain || n.op_type != "FusedConv" || n.inputs.size() < 2) continue;
    if (const ir::Attribute* bf16 = n.find("compute_bf16"); bf16 && bf16->i) continue;
    const auto* x = known_f32_dims(shapes, n.inputs[0]);
    // The weights are constants, often made by the fusions (batch norm folded in): read their
    // shape from the graph.
    const Tensor* weights = passes::f32_constant(g, n.inputs[1]);
    if (!x || !weights || x->size() != 4 || weights->rank() != 4) continue;
    const Shape& w = weights->shape();
    try {
      const ConvGeometry geometry = ir::conv_window(n, *x, w, false);
      const ConvDims dims = conv_dims(*x, w, geometry);
      if (!winograd_pays(dims, geometry, onednn::fused_node_attr(n))) continue;
      if (before_bf16 && !winograd_beats_bf16(dims)) continue;
    } catch (const std::exception&) {
      continue;  // inconsistent attributes: the kernel reports them when it runs
    }
    n.attributes["winograd"].kind = ir::Attribute::Kind::i;
    n.attributes["winograd"].i = 1;
    ++marked;
  }
  return marked;
}

}  // namespace sinter::cpu
