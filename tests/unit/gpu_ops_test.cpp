// GPU kernels the ONNX backend suite only tests in other element types (its CumSum cases are
// f64, which the GPU device does not claim): single-op f32 models, run on GPU.0 (PoCL; ctest sets
// SINTER_OPENCL_CPU=1) and on the CPU device, whose kernels pass those suite cases. Inputs are
// fixed pseudo-random numbers. Each case runs at f32 and at --precision f16 (half storage), the
// latter against the CPU on the same inputs rounded to half, within a few half roundings.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <random>

#include "base/half.hpp"
#include "sinter/sinter.hpp"

using namespace sinter;

namespace {

struct OpCase {
  std::string op;
  std::vector<int64_t> shape;
  std::map<std::string, int64_t> int_attrs;
  std::map<std::string, std::string> string_attrs;
  std::vector<std::pair<std::string, std::vector<int64_t>>> i64_inputs;  // constant inputs 1..
  std::vector<int64_t> second_shape;  // when set: a second f32 graph input "w" (input 1)
  onnx::TensorProto::DataType type = onnx::TensorProto::FLOAT;  // of x, w and y
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
  tt->set_elem_type(c.type);
  for (int64_t d : c.shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto* y = g->add_output();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(c.type);
  auto* n = g->add_node();
  n->set_op_type(c.op);
  n->add_input("x");
  n->add_output("y");
  if (!c.second_shape.empty()) {
    auto* w = g->add_input();
    w->set_name("w");
    auto* wt = w->mutable_type()->mutable_tensor_type();
    wt->set_elem_type(c.type);
    for (int64_t d : c.second_shape) wt->mutable_shape()->add_dim()->set_dim_value(d);
    n->add_input("w");
  }
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

Tensor run(Core& core, const std::string& bytes, const std::string& device, const Tensor& x,
           const Tensor& w) {
  const Model model = core.read_model_from_memory(bytes.data(), bytes.size());
  InferRequest r = core.compile_model(model, device).create_infer_request();
  r.set_input("x", x);
  if (!w.empty()) r.set_input("w", w);
  r.infer();
  return r.get_output("y").tensor();
}

void expect_gpu_matches_cpu(const OpCase& c) {
  Core core;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  auto random = [&](const std::vector<int64_t>& shape) {
    Tensor t(ElementType::f32, shape);
    for (int64_t i = 0; i < t.element_count(); ++i) t.data_as<float>()[i] = dist(rng);
    return t;
  };
  const Tensor x = random(c.shape), w = c.second_shape.empty() ? Tensor() : random(c.second_shape);
  const std::string bytes = single_op_model(c);
  const Tensor cpu = run(core, bytes, "CPU", x, w), gpu = run(core, bytes, "GPU.0", x, w);
  const Tolerance tol{1e-5, 1e-4};
  const auto cmp = compare_tensors(gpu, cpu, tol);
  EXPECT_TRUE(cmp.ok()) << c.op << ": " << cmp.summary("y", tol);

  // Half storage rounds the inputs on upload; the CPU gets them rounded the same way.
  auto to_half_and_back = [](const Tensor& t) {
    if (t.empty()) return t;
    Tensor r(ElementType::f32, t.shape());
    for (int64_t i = 0; i < t.element_count(); ++i)
      r.data_as<float>()[i] = static_cast<float>(f16(t.data_as<float>()[i]));
    return r;
  };
  Core core_f16(Config::resolve({{"precision", "f16"}}));
  const Tensor cpu_rounded = run(core, bytes, "CPU", to_half_and_back(x), to_half_and_back(w));
  const Tensor gpu_f16 = run(core_f16, bytes, "GPU.0", x, w);
  EXPECT_EQ(
      core_f16.compile_model(core_f16.read_model_from_memory(bytes.data(), bytes.size()), "GPU.0")
          .precision(),
      "f16 (f16 storage, f32 arithmetic)");
  Tolerance tol_f16{0, 4e-3};
  tol_f16.atol = 2e-3 * compare_tensors(gpu_f16, cpu_rounded, tol_f16).max_abs_expected;
  const auto cmp_f16 = compare_tensors(gpu_f16, cpu_rounded, tol_f16);
  EXPECT_TRUE(cmp_f16.ok()) << c.op << " at f16: " << cmp_f16.summary("y", tol_f16);
}

// A model whose tensors are f16 (as exported for GPUs): the GPU computes it in f32 storage (and
// rounds the output to f16), the CPU with its f16 kernels; within a few half roundings.
void expect_f16_model_matches_cpu(OpCase c) {
  c.type = onnx::TensorProto::FLOAT16;
  Core core;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  auto random = [&](const std::vector<int64_t>& shape) {
    Tensor t(ElementType::f16, shape);
    for (int64_t i = 0; i < t.element_count(); ++i) t.data_as<f16>()[i] = f16(dist(rng));
    return t;
  };
  const Tensor x = random(c.shape), w = c.second_shape.empty() ? Tensor() : random(c.second_shape);
  const std::string bytes = single_op_model(c);
  const Tensor cpu = run(core, bytes, "CPU", x, w), gpu = run(core, bytes, "GPU.0", x, w);
  ASSERT_EQ(gpu.element_type(), ElementType::f16) << c.op;
  Tolerance tol{0, 4e-3};
  tol.atol = 2e-3 * compare_tensors(gpu, cpu, tol).max_abs_expected;
  const auto cmp = compare_tensors(gpu, cpu, tol);
  EXPECT_TRUE(cmp.ok()) << c.op << " on f16 tensors: " << cmp.summary("y", tol);
}

}  // namespace

TEST(GpuOps, F16ModelsMatchTheCpu) {
  expect_f16_model_matches_cpu({"Add", {2, 3, 4}, {}, {}, {}, {3, 4}});
  expect_f16_model_matches_cpu({"MatMul", {2, 5, 7}, {}, {}, {}, {7, 3}});
  expect_f16_model_matches_cpu({"Conv", {1, 3, 9, 9}, {{"group", 1}}, {}, {}, {4, 3, 3, 3}});
  expect_f16_model_matches_cpu({"Softmax", {3, 17}, {{"axis", -1}}, {}, {}, {}});
  expect_f16_model_matches_cpu({"LayerNormalization", {4, 16}, {}, {}, {}, {16}});
  expect_f16_model_matches_cpu({"Sigmoid", {5, 6}, {}, {}, {}, {}});
  expect_f16_model_matches_cpu({"Transpose", {2, 3, 4}, {}, {}, {}, {}});
}

TEST(GpuOps, CumSumMatchesTheCpu) {
  expect_gpu_matches_cpu({"CumSum", {3, 5, 4}, {}, {}, {{"axis", {1}}}, {}});
  expect_gpu_matches_cpu({"CumSum", {3, 5, 4}, {{"exclusive", 1}}, {}, {{"axis", {-1}}}, {}});
  expect_gpu_matches_cpu({"CumSum", {3, 5, 4}, {{"reverse", 1}}, {}, {{"axis", {0}}}, {}});
  expect_gpu_matches_cpu(
      {"CumSum", {6, 7}, {{"reverse", 1}, {"exclusive", 1}}, {}, {{"axis", {1}}}, {}});
}

TEST(GpuOps, EinsumMatchesTheCpu) {
  const std::pair<const char*, std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases[] = {
      {"ij,jk->ik", {{5, 7}, {7, 3}}},
      {"bij,bkj->bik", {{2, 4, 6}, {2, 5, 6}}},
      {"bchw,oc->bohw", {{2, 8, 3, 4}, {5, 8}}},
      {"ik,jk", {{4, 6}, {3, 6}}},  // implicit output: "ij"
      {"bhid,bhjd->bhij", {{2, 3, 4, 8}, {2, 3, 5, 8}}},
      {"i,j->ji", {{4}, {3}}},        // outer product, transposed
      {"ij,ij->", {{3, 4}, {3, 4}}},  // full contraction to a scalar
  };
  for (const auto& [equation, shapes] : cases)
    expect_gpu_matches_cpu(
        {"Einsum", shapes.first, {}, {{"equation", equation}}, {}, shapes.second});
}

TEST(GpuOps, PadModesMatchTheCpu) {
  for (const char* mode : {"constant", "reflect", "edge", "wrap"})
    expect_gpu_matches_cpu(
        {"Pad", {2, 3, 5}, {}, {{"mode", mode}}, {{"pads", {0, 1, 2, 0, 2, 1}}}, {}});
}
