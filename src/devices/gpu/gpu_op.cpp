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

namespace {

// `t` as f32 or f16 (float tensors only).
Tensor convert_float(const Tensor& t, ElementType to) {
  if (t.element_type() == to) return t;
  Tensor r(to, t.shape());
  const int64_t n = t.element_count();
  if (to == ElementType::f16) {
    for (int64_t i = 0; i < n; ++i) r.data_as<f16>()[i] = f16(t.data_as<float>()[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) r.data_as<float>()[i] = float(t.data_as<f16>()[i]);
  }
  return r;
}

}  // namespace

GTensor upload_tensor(ClRuntime& cl, const Tensor& t) {
  const ElementType stored = cl.stored_as(t.element_type());
  const Tensor converted = stored == t.element_type() ? t : convert_float(t, stored);
  GTensor g{stored, t.shape(), cl.allocate(converted.byte_size())};
  cl.upload(g.buf, converted.data(), converted.byte_size());
  return g;
}

Tensor download_tensor(ClRuntime& cl, const GTensor& g, ElementType type) {
  Tensor stored(g.type, g.shape);
  cl.download(g.buf, stored.data(), stored.byte_size());
  return type == g.type ? stored : convert_float(stored, type);
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
