#include "passes/expand_qlinear.hpp"

#include "passes/graph_rewrite.hpp"

#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace sinter::passes {

namespace {

// Builds the replacement nodes of one QOperator node, with value names no other value has.
class Expansion {
 public:
  Expansion(std::unordered_set<std::string>& used, const ir::Node& original)
      : used_(used), original_(original) {}

  std::string fresh(const std::string& suffix) {
    std::string name = original_.outputs[0] + "/" + suffix;
    for (int k = 1; used_.count(name); ++k)
      name = original_.outputs[0] + "/" + suffix + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }

  ir::Node& add(const std::string& op, std::vector<std::string> inputs, std::string output) {
    ir::Node n;
    n.name = original_.name.empty() ? "" : original_.name + "/" + op;
    n.op_type = op;
    n.inputs = std::move(inputs);
    n.outputs = {std::move(output)};
    n.sources = original_.sources;
    nodes_.push_back(std::move(n));
    return nodes_.back();
  }

  // DequantizeLinear of input `k` of the original (codes, scale, zero point at k, k+1, k+2).
  std::string dequantize(std::size_t k, int64_t axis, const std::string& suffix) {
    const std::string out = fresh(suffix);
    ir::Node& n = add("DequantizeLinear", {input(k), input(k + 1), input(k + 2)}, out);
    n.attributes["axis"].kind = ir::Attribute::Kind::i;
    n.attributes["axis"].i = axis;
    return out;
  }

  // QuantizeLinear of `value` into the original's output (scale, zero point at k, k+1).
  void quantize(const std::string& value, std::size_t k) {
    add("QuantizeLinear", {value, input(k), input(k + 1)}, original_.outputs[0]);
  }

  std::string input(std::size_t k) const {
    return k < original_.inputs.size() ? original_.inputs[k] : "";
  }

  std::vector<ir::Node> take() { return std::move(nodes_); }

 private:
  std::unordered_set<std::string>& used_;
  const ir::Node& original_;
  std::vector<ir::Node> nodes_;
};

std::vector<ir::Node> expand_qlinear_conv(std::unordered_set<std::string>& used,
                                          const ir::Node& n) {
  Expansion e(used, n);
  const std::string x = e.dequantize(0, 1, "x");
  const std::string w = e.dequantize(3, 0, "w");
  std::vector<std::string> conv_inputs = {x, w};
  if (!e.input(8).empty()) {
    // The int32 bias is in units of xs * ws (per output channel where ws is).
    const std::string bias_scale = e.fresh("bias_scale");
    e.add("Mul", {e.input(1), e.input(4)}, bias_scale);
    const std::string bias_f32 = e.fresh("bias_f32");
    ir::Node& cast = e.add("Cast", {e.input(8)}, bias_f32);
    cast.attributes["to"].kind = ir::Attribute::Kind::i;
    cast.attributes["to"].i = static_cast<int64_t>(ElementType::f32);
    const std::string bias = e.fresh("bias");
    e.add("Mul", {bias_f32, bias_scale}, bias);
    conv_inputs.push_back(bias);
  }
  const std::string y = e.fresh("conv");
  ir::Node& conv = e.add("Conv", conv_inputs, y);
  conv.attributes = n.attributes;  // kernel_shape, strides, pads, dilations, group, auto_pad
  e.quantize(y, 6);
  return e.take();
}

std::vector<ir::Node> expand_qlinear_matmul(std::unordered_set<std::string>& used,
                                            const ir::Node& n) {
  Expansion e(used, n);
  // a's scale may be per row (axis -2), b's per column (axis -1).
  const std::string a = e.dequantize(0, -2, "a");
  const std::string b = e.dequantize(3, -1, "b");
  const std::string y = e.fresh("matmul");
  e.add("MatMul", {a, b}, y);
  e.quantize(y, 6);
  return e.take();
}

}  // namespace

int expand_qlinear_ops(ir::Graph& g) {
  std::unordered_set<std::string> used;
  for (const auto& in : g.inputs) used.insert(in.name);
  for (const auto& [name, _] : g.constants) used.insert(name);
  for (const auto& n : g.nodes) used.insert(n.outputs.begin(), n.outputs.end());
  std::vector<ir::Node> nodes;
  nodes.reserve(g.nodes.size());
  int expanded = 0;
  for (auto& n : g.nodes) {
    const bool conv = n.op_type == "QLinearConv" && n.inputs.size() >= 8;
    const bool matmul = n.op_type == "QLinearMatMul" && n.inputs.size() == 8;
    if (!n.domain.empty() || (!conv && !matmul) || n.outputs.size() != 1) {
      nodes.push_back(std::move(n));
      continue;
    }
    for (auto& m : conv ? expand_qlinear_conv(used, n) : expand_qlinear_matmul(used, n))
      nodes.push_back(std::move(m));
    ++expanded;
  }
  g.nodes = std::move(nodes);
  return expanded;
}

int move_max_pools_before_quantize(ir::Graph& g) {
  std::unordered_map<std::string, std::size_t> producer;
  std::unordered_map<std::string, int> reads;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& o : g.nodes[i].outputs) producer[o] = i;
    std::unordered_set<std::string> names;
    ir::collect_reads(g.nodes[i], names);
    for (const auto& name : names) ++reads[name];
  }
  int moved = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& pool = g.nodes[i];
    if (pool.op_type != "MaxPool" || !pool.domain.empty() || pool.inputs.size() != 1 ||
        pool.outputs.size() != 1)
      continue;  // a second output (Indices) would index the codes' tensor
    auto p = producer.find(pool.inputs[0]);
    if (p == producer.end()) continue;
    ir::Node& quantize = g.nodes[p->second];
    if (quantize.op_type != "QuantizeLinear" || !quantize.domain.empty() ||
        quantize.outputs.size() != 1 || reads[quantize.outputs[0]] != 1 ||
        passes::is_graph_output(g, quantize.outputs[0]))
      continue;
    // The quantizer's place (the earlier one) now pools x into the codes' old name, which
    // nothing else reads; the pool's place quantizes that into the pool's output.
    const std::string between = quantize.outputs[0];
    const std::size_t first = p->second;
    pool.inputs[0] = quantize.inputs[0];
    quantize.inputs[0] = between;
    quantize.outputs[0] = pool.outputs[0];
    pool.outputs[0] = between;
    std::swap(g.nodes[first], g.nodes[i]);
    producer[between] = first;
    producer[g.nodes[i].outputs[0]] = i;
    ++moved;
  }
  return moved;
}

}  // namespace sinter::passes
