#include "ir/shape_inference.hpp"

#include <algorithm>

#include "ir/shape_rules.hpp"
#include "sinter/error.hpp"

namespace sinter::ir {

bool ValueInfo::shape_known() const {
  return rank_known && std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; });
}

int64_t ValueInfo::byte_size() const {
  if (!shape_known() || type == ElementType::undefined) return -1;
  return product(dims) * static_cast<int64_t>(element_size(type));
}

ValueInfo ValueInfo::tensor(ElementType type, std::vector<int64_t> dims) {
  ValueInfo v;
  v.type = type;
  v.rank_known = true;
  v.dims = std::move(dims);
  return v;
}

ValueInfo ValueInfo::of_type(ElementType type) {
  ValueInfo v;
  v.type = type;
  return v;
}

void RuleContext::same_as_input(std::size_t i, std::size_t o) {
  if (in(i)) {
    ValueInfo& target = out(o);
    target = *in(i);
    target.values.reset();
    target.real_values.reset();
  }
}

int64_t product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

std::vector<int64_t> broadcast_dims(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank, -1);
  for (std::size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (da >= 0)
      out[i] = da;  // equal to db when the model is valid; the kernel checks
    else
      out[i] = db;
  }
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t rank) {
  if (axis < 0) axis += rank;
  return axis >= 0 && axis < rank ? axis : -1;
}

bool tracked(const ValueInfo* v) {
  return v && v->values && v->shape_known();
}

void set_values(ValueInfo& v, ElementType type, std::vector<int64_t> dims,
                std::vector<int64_t> values) {
  v = ValueInfo::tensor(type, std::move(dims));
  v.values = std::move(values);
}

namespace {

bool is_integer(ElementType t) {
  switch (t) {
    case ElementType::i8:
    case ElementType::i16:
    case ElementType::i32:
    case ElementType::i64:
    case ElementType::u8:
    case ElementType::u16:
    case ElementType::u32:
    case ElementType::u64:
    case ElementType::boolean:
      return true;
    default:
      return false;
  }
}

template <typename T>
std::vector<int64_t> read_as_int64(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<int64_t>(p, p + t.element_count());
}

}  // namespace

ValueInfo constant_info(const Tensor& t) {
  ValueInfo v = ValueInfo::tensor(t.element_type(), t.shape());
  if (t.element_count() > kMaxTrackedValues) return v;
  if (t.element_type() == ElementType::f32) {
    const float* p = t.data_as<float>();
    v.real_values = std::vector<double>(p, p + t.element_count());
  } else if (t.element_type() == ElementType::f64) {
    const double* p = t.data_as<double>();
    v.real_values = std::vector<double>(p, p + t.element_count());
  }
  if (!is_integer(t.element_type())) return v;
  switch (t.element_type()) {
    case ElementType::i64:
      v.values = read_as_int64<int64_t>(t);
      break;
    case ElementType::i32:
      v.values = read_as_int64<int32_t>(t);
      break;
    case ElementType::u8:
    case ElementType::boolean:
      v.values = read_as_int64<uint8_t>(t);
      break;
    default:
      break;  // rare in shape arithmetic
  }
  return v;
}

namespace {

const RuleTable& rule_table() {
  static const RuleTable table = [] {
    RuleTable t;
    add_elementwise_rules(t);
    add_tensor_rules(t);
    add_nn_rules(t);
    return t;
  }();
  return table;
}

ValueInfo input_info(const PortInfo& port, const std::map<std::string, Shape>& overrides) {
  if (port.kind != PortInfo::Kind::tensor) return {};
  if (auto it = overrides.find(port.name); it != overrides.end())
    return ValueInfo::tensor(port.element_type, it->second);
  if (!port.has_shape) return ValueInfo::of_type(port.element_type);
  std::vector<int64_t> dims;
  for (const auto& d : port.shape) dims.push_back(d.is_static() ? d.value : -1);
  return ValueInfo::tensor(port.element_type, dims);
}

}  // namespace

namespace {

void run_rules(const Graph& graph, ShapeInference& result);

}  // namespace

ShapeInference infer_shapes(const Graph& graph, const std::map<std::string, Shape>& input_shapes) {
  ShapeInference result;
  auto& values = result.values;
  for (const auto& [name, tensor] : graph.constants) values[name] = constant_info(tensor);
  for (const auto& port : graph.inputs) {
    // An input that is also an initializer keeps its constant as the default (older opsets).
    if (!values.count(port.name) || input_shapes.count(port.name))
      values[port.name] = input_info(port, input_shapes);
  }
  run_rules(graph, result);
  return result;
}

ShapeInference infer_shapes(const Graph& graph,
                            const std::map<std::string, const Tensor*>& inputs) {
  ShapeInference result;
  auto& values = result.values;
  for (const auto& [name, tensor] : graph.constants) values[name] = constant_info(tensor);
  for (const auto& port : graph.inputs) {
    auto it = inputs.find(port.name);
    if (it != inputs.end() && it->second)
      values[port.name] = constant_info(*it->second);
    else if (!values.count(port.name))
      values[port.name] = input_info(port, {});
  }
  run_rules(graph, result);
  return result;
}

namespace {

void run_rules(const Graph& graph, ShapeInference& result) {
  auto& values = result.values;
  const RuleTable& rules = rule_table();
  for (const Node& node : graph.nodes) {
    RuleContext ctx{node, graph.opset(node.domain), {}, {}};
    for (const auto& name : node.inputs) {
      auto it = name.empty() ? values.end() : values.find(name);
      ctx.inputs.push_back(it == values.end() ? nullptr : &it->second);
    }
    ctx.outputs.resize(node.outputs.size());
    auto rule = node.domain.empty() ? rules.find(node.op_type) : rules.end();
    if (rule == rules.end()) {
      result.ops_without_rule.insert(node.op_type);
    } else {
      try {
        rule->second(ctx);
      } catch (const Error&) {
        // Inconsistent attributes: the kernel reports them when the node runs. Statically the
        // outputs are simply not known.
        std::fill(ctx.outputs.begin(), ctx.outputs.end(), ValueInfo{});
      }
    }
    for (std::size_t k = 0; k < node.outputs.size(); ++k) {
      if (!node.outputs[k].empty() && k < ctx.outputs.size())
        values[node.outputs[k]] = std::move(ctx.outputs[k]);
    }
  }
}

}  // namespace

}  // namespace sinter::ir
