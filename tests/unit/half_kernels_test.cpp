// f16 and bf16 models on the CPU device: Conv, Gemm and MatMul run through the f32 (oneDNN)
// path with widened inputs. Expected values are computed here in double precision from the
// operators' formulas, on inputs that are exact in both 16-bit formats.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>

#include "base/half.hpp"
#include "sinter/sinter.hpp"

using namespace sinter;

namespace {

constexpr int64_t kC = 4, kK = 8, kH = 6, kW = 6;  // Conv: [1,4,6,6] * [8,4,3,3], pad 1
constexpr int64_t kM = 5, kN = 7, kInner = 9;      // MatMul: [5,9] x [9,7]

// Small multiples of 1/8: exact in f16 and bf16.
std::vector<double> ramp(int64_t n, int seed) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = double(((i * 7 + seed * 13) % 17) - 8) / 8.0;
  return v;
}

void add_port(onnx::ValueInfoProto* vi, const std::string& name, int type,
              std::vector<int64_t> dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

template <typename T>
void add_initializer(onnx::GraphProto* g, const std::string& name, int type,
                     std::vector<int64_t> dims, const std::vector<double>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  std::vector<T> raw(values.begin(), values.end());
  t->set_raw_data(raw.data(), raw.size() * sizeof(T));
}

template <typename T>
std::string model_bytes(int type) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("half");
  add_port(g->add_input(), "x", type, {1, kC, kH, kW});
  add_port(g->add_input(), "a", type, {kM, kInner});
  add_port(g->add_output(), "conv", type, {1, kK, kH, kW});
  add_port(g->add_output(), "matmul", type, {kM, kN});
  add_port(g->add_output(), "gemm", type, {kM, kN});
  add_initializer<T>(g, "w", type, {kK, kC, 3, 3}, ramp(kK * kC * 9, 1));
  add_initializer<T>(g, "b", type, {kK}, ramp(kK, 2));
  add_initializer<T>(g, "m", type, {kInner, kN}, ramp(kInner * kN, 3));
  add_initializer<T>(g, "c", type, {kN}, ramp(kN, 4));
  auto* conv = g->add_node();
  conv->set_op_type("Conv");
  for (const char* in : {"x", "w", "b"}) conv->add_input(in);
  conv->add_output("conv");
  auto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  auto* mm = g->add_node();
  mm->set_op_type("MatMul");
  mm->add_input("a");
  mm->add_input("m");
  mm->add_output("matmul");
  auto* gemm = g->add_node();
  gemm->set_op_type("Gemm");
  for (const char* in : {"a", "m", "c"}) gemm->add_input(in);
  gemm->add_output("gemm");
  return m.SerializeAsString();
}

std::vector<double> conv_reference(const std::vector<double>& x) {
  const auto w = ramp(kK * kC * 9, 1), b = ramp(kK, 2);
  std::vector<double> y(kK * kH * kW);
  for (int64_t k = 0; k < kK; ++k)
    for (int64_t i = 0; i < kH; ++i)
      for (int64_t j = 0; j < kW; ++j) {
        double s = b[k];
        for (int64_t c = 0; c < kC; ++c)
          for (int64_t u = 0; u < 3; ++u)
            for (int64_t v = 0; v < 3; ++v) {
              const int64_t ii = i + u - 1, jj = j + v - 1;
              if (ii >= 0 && ii < kH && jj >= 0 && jj < kW)
                s += x[(c * kH + ii) * kW + jj] * w[((k * kC + c) * 3 + u) * 3 + v];
            }
        y[(k * kH + i) * kW + j] = s;
      }
  return y;
}

std::vector<double> matmul_reference(const std::vector<double>& a, bool with_bias) {
  const auto m = ramp(kInner * kN, 3), c = ramp(kN, 4);
  std::vector<double> y(kM * kN);
  for (int64_t i = 0; i < kM; ++i)
    for (int64_t j = 0; j < kN; ++j) {
      double s = with_bias ? c[j] : 0.0;
      for (int64_t p = 0; p < kInner; ++p) s += a[i * kInner + p] * m[p * kN + j];
      y[i * kN + j] = s;
    }
  return y;
}

template <typename T>
Tensor tensor_of(ElementType type, Shape shape, const std::vector<double>& values) {
  Tensor t(type, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) t.data_as<T>()[i] = T(float(values[i]));
  return t;
}

template <typename T>
void expect_close(const Tensor& t, ElementType type, const std::vector<double>& expected,
                  double rtol) {
  ASSERT_EQ(t.element_type(), type);
  ASSERT_EQ(t.element_count(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    const double got = float(t.data_as<T>()[i]);
    EXPECT_NEAR(got, expected[i], 1e-3 + rtol * std::fabs(expected[i])) << "element " << i;
  }
}

template <typename T>
void run_half_model(ElementType type, int onnx_type, double rtol) {
  const std::string bytes = model_bytes<T>(onnx_type);
  Core core;
  CompiledModel compiled =
      core.compile_model(core.read_model_from_memory(bytes.data(), bytes.size()), "CPU");
  InferRequest req = compiled.create_infer_request();
  const auto x = ramp(kC * kH * kW, 5), a = ramp(kM * kInner, 6);
  req.set_input("x", tensor_of<T>(type, {1, kC, kH, kW}, x));
  req.set_input("a", tensor_of<T>(type, {kM, kInner}, a));
  req.infer();
  expect_close<T>(req.get_output("conv").tensor(), type, conv_reference(x), rtol);
  expect_close<T>(req.get_output("matmul").tensor(), type, matmul_reference(a, false), rtol);
  expect_close<T>(req.get_output("gemm").tensor(), type, matmul_reference(a, true), rtol);
}

}  // namespace

// One rounding of the f32 result: half an f16 ulp is 2^-11 relative.
TEST(HalfKernels, Float16ConvMatMulGemm) {
  run_half_model<f16>(ElementType::f16, onnx::TensorProto::FLOAT16, 1e-3);
}

// Half a bf16 ulp is 2^-8 relative.
TEST(HalfKernels, BFloat16ConvMatMulGemm) {
  run_half_model<bf16>(ElementType::bf16, onnx::TensorProto::BFLOAT16, 4e-3);
}
