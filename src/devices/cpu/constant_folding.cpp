#include "devices/cpu/constant_folding.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <unordered_set>

#include "base/errors.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "ir/shape_inference.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

constexpr std::size_t kSlackBytes = 64 << 10;

bool may_fold(const ir::Node& n) {
  static const std::unordered_set<std::string> random = {"RandomNormal",     "RandomUniform",
                                                         "RandomNormalLike", "RandomUniformLike",
                                                         "Multinomial",      "Bernoulli"};
  if (!n.domain.empty() || random.count(n.op_type) || n.outputs.empty()) return false;
  for (const auto& [_, a] : n.attributes)
    if (a.g || !a.graphs.empty()) return false;
  return true;
}

bool dequantizes_8bit_constant(const ir::Graph& g, const ir::Node& n) {
  if (n.op_type != "DequantizeLinear" || n.inputs.empty()) return false;
  auto c = g.constants.find(n.inputs[0]);
  return c != g.constants.end() && (c->second.element_type() == ElementType::u8 ||
                                    c->second.element_type() == ElementType::i8);
}

// The node's outputs computed by its kernel from constant inputs; nullopt when it cannot run
// here or a result is not a tensor of bounded size.
std::optional<std::vector<Tensor>> evaluate(const ir::Graph& g, const ir::Node& n) {
  const Kernel kernel = KernelRegistry::instance().find(n.domain, n.op_type);
  if (!kernel) return std::nullopt;
  std::vector<Value> values;
  values.reserve(n.inputs.size());
  std::size_t input_bytes = 0;
  for (const auto& name : n.inputs) {
    if (name.empty()) {
      values.emplace_back();
      continue;
    }
    const Tensor& t = g.constants.at(name);
    input_bytes += t.byte_size();
    values.emplace_back(t);
  }
  std::vector<const Value*> inputs;
  for (std::size_t k = 0; k < n.inputs.size(); ++k)
    inputs.push_back(n.inputs[k].empty() ? nullptr : &values[k]);
  SubgraphRunner no_subgraphs = [](const ir::Graph&, std::vector<Value>) -> std::vector<Value> {
    raise(ErrorCategory::internal, "constant folding runs no subgraphs");
  };
  OpContext ctx(n, g.opset(n.domain), std::move(inputs), no_subgraphs);
  try {
    kernel(ctx);
  } catch (const std::exception&) {
    return std::nullopt;  // left to run (and fail, naming the node) at inference
  }
  std::vector<Tensor> out;
  for (std::size_t k = 0; k < n.outputs.size(); ++k) {
    if (n.outputs[k].empty()) {
      out.emplace_back();
      continue;
    }
    const Value& v = ctx.outputs()[k];
    if (!v.is_tensor()) return std::nullopt;
    const bool bounded =
        n.op_type == "Constant" || v.tensor().byte_size() <= 2 * input_bytes + kSlackBytes;
    if (!bounded || v.tensor().empty()) return std::nullopt;
    out.push_back(v.tensor());
  }
  return out;
}

// Shape(x) (with its start and end) or Size(x) of a value whose shape shape inference knows;
// nullopt otherwise. What is computed from it is then folded by the kernels, from constants.
std::optional<std::vector<Tensor>> shape_of(const ir::ShapeInference& shapes, const ir::Node& n) {
  if ((n.op_type != "Shape" && n.op_type != "Size") || n.inputs.size() != 1 ||
      n.outputs.size() != 1)
    return std::nullopt;
  auto it = shapes.values.find(n.inputs[0]);
  if (it == shapes.values.end() || !it->second.shape_known()) return std::nullopt;
  const std::vector<int64_t>& dims = it->second.dims;
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (n.op_type == "Size") {
    Tensor size(ElementType::i64, {});
    size.data_as<int64_t>()[0] = element_count(Shape(dims.begin(), dims.end()));
    return std::vector<Tensor>{size};
  }
  // Opset 15's start and end: negative counts from the back, both clamped to [0, rank].
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  const int64_t start = clamp(n.attr_int("start", 0)), end = clamp(n.attr_int("end", rank));
  Tensor out(ElementType::i64, {std::max<int64_t>(0, end - start)});
  for (int64_t i = start; i < end; ++i) out.data_as<int64_t>()[i - start] = dims[i];
  return std::vector<Tensor>{out};
}

}  // namespace

int fold_constants(ir::Graph& g, bool keep_dequantized_weights) {
  std::unordered_set<std::string> inputs;
  for (const auto& in : g.inputs) inputs.insert(in.name);
  auto constant = [&](const std::string& v) {
    return v.empty() || (g.constants.count(v) && !inputs.count(v));
  };
  int folded = 0;
  // A few rounds: shapes are inferred again after each, as folding makes more of them known.
  for (int round = 0; round < 4; ++round) {
    const ir::ShapeInference shapes = ir::infer_shapes(g);
    std::vector<bool> removed(g.nodes.size(), false);
    int now = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      const ir::Node& n = g.nodes[i];
      if (!may_fold(n) || (keep_dequantized_weights && dequantizes_8bit_constant(g, n))) continue;
      bool outputs_free = true, inputs_constant = true;
      for (const auto& o : n.outputs)
        outputs_free = outputs_free && !passes::is_graph_output(g, o) && !inputs.count(o);
      for (const auto& in : n.inputs) inputs_constant = inputs_constant && constant(in);
      if (!outputs_free) continue;
      std::optional<std::vector<Tensor>> results =
          inputs_constant ? evaluate(g, n) : shape_of(shapes, n);
      if (!results) continue;
      for (std::size_t k = 0; k < n.outputs.size(); ++k)
        if (!n.outputs[k].empty()) g.constants[n.outputs[k]] = std::move((*results)[k]);
      removed[i] = true;
      ++now;
    }
    passes::erase_nodes(g, removed);
    folded += now;
    if (now == 0) break;
  }
  return folded;
}

}  // namespace sinter::cpu
