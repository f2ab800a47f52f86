#include "devices/gpu/gpu_op.hpp"

#include "base/half.hpp"

namespace sinter::gpu {

std::vector<int64_t> GpuOpContext::input_ints(std::size_t i) const {
  const ir::ValueInfo& v = planned_input(i);
  if (!v.values)
    fail("input '{}' must be known before the run (a constant or shape arithmetic)",
         node.inputs[i]);
  return *v.values;
}

std::vector<double> GpuOpContext::input_reals(std::size_t i) const {
  const ir::ValueInfo& v = planned_input(i);
  if (v.real_values) return *v.real_values;
  if (v.values) return std::vector<double>(v.values->begin(), v.values->end());
  fail("input '{}' must be known before the run (a constant)", node.inputs[i]);
}

GTensor& GpuOpContext::allocate_output(std::size_t k) {
  const ir::ValueInfo& v = planned_output(k);
  GTensor& t = outputs[k];
  t.type = cl.stored_as(v.type);
  t.shape = v.dims;
  t.buf = cl.allocate(t.bytes());
  return t;
}

void GpuOpContext::alias_output(std::size_t k, const GTensor& of) {
  GTensor& t = outputs[k];
  t = of;
  t.shape = planned_output(k).dims;
}

GTensor upload_tensor(ClRuntime& cl, const Tensor& t) {
  const ElementType stored = cl.stored_as(t.element_type());
  Tensor converted = t;
  if (stored == ElementType::f16 && t.element_type() == ElementType::f32) {
    converted = Tensor(ElementType::f16, t.shape());
    const float* from = t.data_as<float>();
    f16* to = converted.data_as<f16>();
    for (int64_t i = 0; i < t.element_count(); ++i) to[i] = f16(from[i]);
  }
  GTensor g{stored, t.shape(), cl.allocate(converted.byte_size())};
  cl.upload(g.buf, converted.data(), converted.byte_size());
  return g;
}

Tensor download_tensor(ClRuntime& cl, const GTensor& g) {
  Tensor stored(g.type, g.shape);
  cl.download(g.buf, stored.data(), stored.byte_size());
  if (g.type != ElementType::f16) return stored;
  // Half storage only ever holds the graph's f32 values (f16 graph values are refused by query).
  Tensor values(ElementType::f32, g.shape);
  const f16* from = stored.data_as<f16>();
  float* to = values.data_as<float>();
  for (int64_t i = 0; i < values.element_count(); ++i) to[i] = static_cast<float>(from[i]);
  return values;
}

std::string sized_kernel(const char* base, ElementType type) {
  return std::string(base) + "_" + std::to_string(element_size(type));
}

std::string only_first_output(const ir::Node& node, const ir::ShapeInference&) {
  for (std::size_t k = 1; k < node.outputs.size(); ++k)
    if (!node.outputs[k].empty()) return "only its first output is implemented";
  return "";
}

std::string window_rank_at_most_3d(const ir::Node& node, const ir::ShapeInference& shapes) {
  auto it = shapes.values.find(node.inputs.at(0));
  if (it != shapes.values.end() && it->second.rank_known && it->second.dims.size() > 5)
    return std::to_string(it->second.dims.size() - 2) + "-d windows are not implemented";
  return "";
}

std::string all_checks(const std::vector<GpuCheck>& checks, const ir::Node& node,
                       const ir::ShapeInference& shapes) {
  for (const auto& c : checks)
    if (std::string why = c(node, shapes); !why.empty()) return why;
  return "";
}

const GpuOpTable& gpu_ops() {
  static const GpuOpTable table = [] {
    GpuOpTable t;
    add_elementwise_ops(t);
    add_data_ops(t);
    add_nn_ops(t);
    add_norm_ops(t);
    add_einsum_op(t);
    return t;
  }();
  return table;
}

}  // namespace sinter::gpu
