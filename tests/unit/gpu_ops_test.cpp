// GPU kernels the ONNX backend suite only tests in other element types (its CumSum cases are
// f64, which the GPU device does not claim): single-op f32 models, run on GPU.0 (PoCL; ctest sets
// SINTER_OPENCL_CPU=1) and on the CPU device, whose kernels pass those suite cases. Inputs are
// fixed pseudo-random numbers.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <random>

#include "sinter/sinter.hpp"

using namespace sinter;

namespace {

struct OpCase {
  std::string op;
  std::vector<int64_t> shape;
  std::map<std::string, int64_t> int_attrs;
  std::map<std::string, std::string> string_attrs;
  std::vector<std::pair<std::string, std::vector<int64_t>>> i64_inputs;  // constant inputs 1..
};

// y = OP(x, constants...) with x: f32[shape], opset 18.
std::string single_op_model(const OpCase& c) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(18);
  auto* g = m.mutable_graph();
  g->set_name(c.op);
  auto* x = g->add_input();
  x->set_name("x");
  auto* tt = x->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : c.shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto* y = g->add_output();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto* n = g->add_node();
  n->set_op_type(c.op);
  n->add_input("x");
  n->add_output("y");
  for (const auto& [name, values] : c.i64_inputs) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    n->add_input(name);
  }
  for (const auto& [name, v] : c.int_attrs) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  for (const auto& [name, v] : c.string_attrs) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  return m.SerializeAsString();
}

Tensor run(Core& core, const std::string& bytes, const std::string& device, const Tensor& x) {
  const Model model = core.read_model_from_memory(bytes.data(), bytes.size());
  InferRequest r = core.compile_model(model, device).create_infer_request();
  r.set_input("x", x);
  r.infer();
  return r.get_output("y").tensor();
}

void expect_gpu_matches_cpu(const OpCase& c) {
  Core core;
  Tensor x(ElementType::f32, c.shape);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (int64_t i = 0; i < x.element_count(); ++i) x.data_as<float>()[i] = dist(rng);
  const std::string bytes = single_op_model(c);
  const Tensor cpu = run(core, bytes, "CPU", x), gpu = run(core, bytes, "GPU.0", x);
  const Tolerance tol{1e-5, 1e-4};
  const auto cmp = compare_tensors(gpu, cpu, tol);
  EXPECT_TRUE(cmp.ok()) << c.op << ": " << cmp.summary("y", tol);
}

}  // namespace

TEST(GpuOps, CumSumMatchesTheCpu) {
  expect_gpu_matches_cpu({"CumSum", {3, 5, 4}, {}, {}, {{"axis", {1}}}});
  expect_gpu_matches_cpu({"CumSum", {3, 5, 4}, {{"exclusive", 1}}, {}, {{"axis", {-1}}}});
  expect_gpu_matches_cpu({"CumSum", {3, 5, 4}, {{"reverse", 1}}, {}, {{"axis", {0}}}});
  expect_gpu_matches_cpu(
      {"CumSum", {6, 7}, {{"reverse", 1}, {"exclusive", 1}}, {}, {{"axis", {1}}}});
}

TEST(GpuOps, PadModesMatchTheCpu) {
  for (const char* mode : {"constant", "reflect", "edge", "wrap"})
    expect_gpu_matches_cpu(
        {"Pad", {2, 3, 5}, {}, {{"mode", mode}}, {{"pads", {0, 1, 2, 0, 2, 1}}}});
}
