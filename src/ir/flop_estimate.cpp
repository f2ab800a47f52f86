#include "ir/flop_estimate.hpp"

namespace sinter::ir {

namespace {

// Product of dims[from..]; -1 when a dim is unknown.
int64_t product_from(const std::vector<int64_t>& dims, std::size_t from) {
  int64_t p = 1;
  for (std::size_t i = from; i < dims.size(); ++i) {
    if (dims[i] < 0) return -1;
    p *= dims[i];
  }
  return p;
}

const ValueInfo* known(const ShapeInference& shapes, const Node& node, std::size_t i,
                       bool output = false) {
  const auto& names = output ? node.outputs : node.inputs;
  if (i >= names.size() || names[i].empty()) return nullptr;
  auto it = shapes.values.find(names[i]);
  return it != shapes.values.end() && it->second.shape_known() ? &it->second : nullptr;
}

// Multiply-adds of one node, -1 when its shapes are not known, 0 for other ops.
int64_t multiply_adds(const Node& node, const ShapeInference& shapes) {
  if (!node.domain.empty()) return 0;
  const std::string& op = node.op_type;
  // The integer forms count as their f32 ones (QLinearConv's weights are its input 3).
  if (op == "Conv" || op == "ConvTranspose" || op == "ConvInteger" || op == "QLinearConv") {
    const ValueInfo* w = known(shapes, node, op == "QLinearConv" ? 3 : 1);
    const ValueInfo* per =
        op == "ConvTranspose" ? known(shapes, node, 0) : known(shapes, node, 0, true);
    if (!w || !per || w->dims.size() < 2) return -1;
    // Conv: every output element takes C/group * kernel taps; ConvTranspose: every input
    // element spreads to OC/group * kernel taps.
    return product_from(per->dims, 0) * product_from(w->dims, 1);
  }
  if (op == "MatMul" || op == "Gemm" || op == "MatMulInteger" || op == "QLinearMatMul") {
    const ValueInfo* a = known(shapes, node, 0);
    const ValueInfo* y = known(shapes, node, 0, true);
    if (!a || !y || a->dims.empty()) return -1;
    int64_t k = a->dims.back();
    if (op == "Gemm" && node.attr_int("transA", 0) && a->dims.size() == 2) k = a->dims[0];
    if (a->dims.size() == 1) k = a->dims[0];
    return product_from(y->dims, 0) * k;
  }
  return 0;
}

}  // namespace

FlopEstimate estimate_flops(const Graph& graph, const ShapeInference& shapes) {
  FlopEstimate e;
  for (const auto& node : graph.nodes) {
    const int64_t macs = multiply_adds(node, shapes);
    if (macs < 0)
      ++e.uncounted_nodes;
    else
      e.flops += 2 * macs;
  }
  return e;
}

}  // namespace sinter::ir
