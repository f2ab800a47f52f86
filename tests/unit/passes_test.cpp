// Graph rewrites: the rewritten graph has the expected structure, and the CPU device running
// it gives what a direct formula gives (computed here, independently of any kernel).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "base/half.hpp"
#include "devices/cpu/bf16_marking.hpp"
#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/cpu_device.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/attention_tiles.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "ir/activation_estimate.hpp"
#include "passes/fold_batch_norm.hpp"
#include "passes/optimize.hpp"
#include "passes/simplify.hpp"
#include "placement_text.hpp"

using namespace sinter;

namespace {

Tensor f32(Shape shape, std::vector<float> values) {
  Tensor t(ElementType::f32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<float>());
  return t;
}

// An f32 graph input of known shape.
void add_f32_input(ir::Graph& g, const std::string& name, const std::vector<int64_t>& dims) {
  std::vector<Dimension> shape;
  for (int64_t d : dims) shape.push_back({d, ""});
  g.inputs.push_back({name, PortInfo::Kind::tensor, ElementType::f32, true, shape});
}

// One query row of softmax(scale q.k + mask) v by the definition; the operands through accessors
// q(x), k(x, j), mask(j), v(j, c) for x < d, j < n, c < dv.
template <typename Q, typename K, typename M, typename V>
std::vector<double> attention_row(int64_t d, int64_t n, int64_t dv, double scale, Q q, K k, M mask,
                                  V v) {
  std::vector<double> p(n), out(dv, 0.0);
  double max = -1e300, sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    double s = 0;
    for (int64_t x = 0; x < d; ++x) s += double(q(x)) * k(x, j);
    p[j] = scale * s + mask(j);
    max = std::max(max, p[j]);
  }
  for (auto& e : p) sum += (e = std::exp(e - max));
  for (int64_t c = 0; c < dv; ++c)
    for (int64_t j = 0; j < n; ++j) out[c] += p[j] / sum * v(j, c);
  return out;
}

// What runs an f32 Attention node on this CPU (the AVX-512 tiles where they run).
// The tiles follow the vector kernels' instruction set (AVX-512 or AVX2; sgemm below that or
// with SINTER_CPU_ATTENTION_TILES=0).
std::string f32_attention_implementation() {
  if (!cpu::attention_tiles::available(cpu::attention_tiles::Kind::f32))
    return "fused attention (sgemm, vectorised softmax, no score tensor)";
  return std::string("fused attention (") +
         (std::string(cpu::vec::vector_isa()) == "avx512" ? "AVX-512" : "AVX2") +
         " tiles, f32 products, vectorised softmax, no score tensor)";
}

// An ints attribute (pads, perm, kernel_shape, ...).
ir::Node& with_ints(ir::Node& n, const char* name, std::vector<int64_t> values) {
  n.attributes[name].kind = ir::Attribute::Kind::ints;
  n.attributes[name].ints = std::move(values);
  return n;
}

// x f32[1,1,1,3] -> Conv (1x1, 2 output channels, weights w, bias b) -> BatchNormalization -> y
ir::Graph conv_then_batch_norm() {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1, ""}, {1, ""}, {1, ""}, {3, ""}}});
  g.constants["w"] = f32({2, 1, 1, 1}, {2.f, -1.f});
  g.constants["b"] = f32({2}, {0.5f, 1.f});
  g.constants["scale"] = f32({2}, {3.f, 0.5f});
  g.constants["beta"] = f32({2}, {-1.f, 2.f});
  g.constants["mean"] = f32({2}, {1.f, -2.f});
  g.constants["var"] = f32({2}, {4.f, 0.25f});
  g.add_node("Conv", {"x", "w", "b"}, {"c"});
  g.add_node("BatchNormalization", {"c", "scale", "beta", "mean", "var"}, {"y"})
      .attributes["epsilon"]
      .f = 0.f;
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  return g;
}

}  // namespace

TEST(Passes, BatchNormFoldsIntoConvAndKeepsTheFormula) {
  ir::Graph g = conv_then_batch_norm();
  EXPECT_EQ(passes::fold_batch_norm_into_conv(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Conv");
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  EXPECT_EQ(passes::remove_dead_nodes(g), 0);
  EXPECT_EQ(g.constants.count("scale"), 0u);  // unread parameters are dropped
  EXPECT_EQ(g.constants.count("w"), 0u);

  std::map<std::string, Value> values = {{"x", f32({1, 1, 1, 3}, {1.f, -2.f, 0.25f})}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  const Tensor& y = values.at("y").tensor();
  const float w[2] = {2.f, -1.f}, b[2] = {0.5f, 1.f}, scale[2] = {3.f, 0.5f}, beta[2] = {-1.f, 2.f},
              mean[2] = {1.f, -2.f}, var[2] = {4.f, 0.25f};
  const float x[3] = {1.f, -2.f, 0.25f};
  for (int m = 0; m < 2; ++m)
    for (int i = 0; i < 3; ++i) {
      const float conv = w[m] * x[i] + b[m];
      EXPECT_NEAR(y.data_as<float>()[m * 3 + i],
                  (conv - mean[m]) / std::sqrt(var[m]) * scale[m] + beta[m], 1e-5);
    }
}

TEST(Passes, BatchNormStaysWhenTheConvOutputHasOtherReaders) {
  ir::Graph g = conv_then_batch_norm();
  g.add_node("Relu", {"c"}, {"r"});
  g.outputs.push_back({"r", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  EXPECT_EQ(passes::fold_batch_norm_into_conv(g), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(Passes, PassThroughNodesAreRemovedButGraphOutputsKeepTheirNames) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{2, ""}}});
  g.add_node("Identity", {"x"}, {"a"});
  g.add_node("Relu", {"a"}, {"r"});
  g.add_node("Dropout", {"r"}, {"d"});
  g.add_node("Identity", {"d"}, {"y"});   // graph output fed through two pass-throughs
  g.add_node("Identity", {"x"}, {"xo"});  // graph output straight from a graph input: kept
  g.add_node("Neg", {"d"}, {"unused"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"xo", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const passes::OptimizationReport report = passes::optimize_graph(g);
  EXPECT_EQ(report.summary(), "3 pass-through nodes removed, 1 unused nodes removed");
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].op_type, "Relu");
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  EXPECT_EQ(g.nodes[1].op_type, "Identity");
  ir::validate(g);

  std::map<std::string, Value> values = {{"x", f32({2}, {-3.f, 4.f})}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  EXPECT_EQ(values.at("y").tensor().data_as<float>()[0], 0.f);
  EXPECT_EQ(values.at("y").tensor().data_as<float>()[1], 4.f);
  EXPECT_EQ(values.at("xo").tensor().data_as<float>()[0], -3.f);
}

// A per-column scale after the product (ConvNeXt's layer scale) folds into the weights: MatMul ->
// Add(bias) -> Mul(scale) -> Add(residual) -> Relu (bias scaled too) and, on the same weights,
// MatMul -> Mul(scale [1, n]) (no bias) are one FusedMatMul each; the shared weights stay for
// both, and the values are the formula's.
TEST(Passes, CpuMatMulColumnScaleFoldsIntoTheWeights) {
  const int m = 3, k = 5, n = 4;
  std::vector<float> as(m * k), ws(k * n), bias(n), scale(n), rs(m * n);
  for (std::size_t i = 0; i < as.size(); ++i) as[i] = std::sin(0.7f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = std::cos(0.3f * i);
  for (int j = 0; j < n; ++j) {
    bias[j] = 0.25f * j - 0.5f;
    scale[j] = 0.1f + 0.3f * j;
  }
  for (std::size_t i = 0; i < rs.size(); ++i) rs[i] = 2.f + 0.1f * i;  // the Relu keeps most
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "a", {m, k});
  add_f32_input(g, "r", {m, n});
  g.constants["w"] = f32({k, n}, ws);
  g.constants["bias"] = f32({n}, bias);
  g.constants["scale"] = f32({n}, scale);
  g.constants["scale_row"] = f32({1, n}, scale);
  g.add_node("MatMul", {"a", "w"}, {"p"});
  g.add_node("Add", {"p", "bias"}, {"pb"});
  g.add_node("Mul", {"scale", "pb"}, {"ps"});
  g.add_node("Add", {"ps", "r"}, {"s"});
  g.add_node("Relu", {"s"}, {"y"});
  g.add_node("MatMul", {"a", "w"}, {"q"});
  g.add_node("Mul", {"q", "scale_row"}, {"z"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"z", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]), "oneDNN matmul + bias + sum + relu");
  EXPECT_EQ(kernel_free(placement.node_implementation[2]), "fused into MatMul");
  EXPECT_EQ(kernel_free(placement.node_implementation[5]), "oneDNN matmul");
  EXPECT_EQ(kernel_free(placement.node_implementation[6]), "fused into MatMul");
  std::map<std::string, Value> values = {{"a", f32({m, k}, as)}, {"r", f32({m, n}, rs)}};
  exe->run(values);
  const float* y = values.at("y").tensor().data_as<float>();
  const float* z = values.at("z").tensor().data_as<float>();
  for (int row = 0; row < m; ++row)
    for (int j = 0; j < n; ++j) {
      double product = 0;
      for (int i = 0; i < k; ++i) product += static_cast<double>(as[row * k + i]) * ws[i * n + j];
      const double want_y = std::max((product + bias[j]) * scale[j] + rs[row * n + j], 0.0);
      EXPECT_NEAR(y[row * n + j], want_y, 1e-5) << row << "," << j;
      EXPECT_NEAR(z[row * n + j], product * scale[j], 1e-5) << row << "," << j;
    }
}

namespace {

// Direct 3x3 convolution, stride 1, pad 1, NCHW, batch 1 (the textbook formula).
std::vector<float> conv3x3(const std::vector<float>& x, const std::vector<float>& w, int c, int h,
                           int wd) {
  std::vector<float> y(static_cast<std::size_t>(c * h * wd), 0.f);
  for (int m = 0; m < c; ++m)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < wd; ++j) {
        double acc = 0;
        for (int k = 0; k < c; ++k)
          for (int di = 0; di < 3; ++di)
            for (int dj = 0; dj < 3; ++dj) {
              const int ii = i + di - 1, jj = j + dj - 1;
              if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
              acc += static_cast<double>(x[(k * h + ii) * wd + jj]) *
                     w[((m * c + k) * 3 + di) * 3 + dj];
            }
        y[(m * h + i) * wd + j] = static_cast<float>(acc);
      }
  return y;
}

}  // namespace

// Conv -> Add(x) -> HardSigmoid and Conv -> LeakyRelu -> Conv -> Clip become FusedConv nodes
// with post-ops, the middle value passed in the blocked layout (16 channels), and give the
// formula's values.
TEST(Passes, CpuFusedConvolutionsMatchTheFormula) {
  const int c = 16, h = 5, wd = 6;
  std::vector<float> xs(c * h * wd), ws(c * c * 9);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.05f * std::cos(0.11f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1, ""}, {c, ""}, {h, ""}, {wd, ""}}});
  g.constants["w"] = f32({c, c, 3, 3}, ws);
  g.constants["lo"] = f32({}, {-0.1f});
  g.constants["hi"] = f32({}, {0.2f});
  auto conv = [&](const std::string& in, const std::string& out) {
    with_ints(g.add_node("Conv", {in, "w"}, {out}), "pads", {1, 1, 1, 1});
  };
  conv("x", "c1");
  g.add_node("Add", {"c1", "x"}, {"s1"});
  ir::Node& hs = g.add_node("HardSigmoid", {"s1"}, {"y1"});
  hs.attributes["alpha"].f = 0.3f;
  hs.attributes["beta"].f = 0.4f;
  conv("x", "c2");
  g.add_node("LeakyRelu", {"c2"}, {"l2"}).attributes["alpha"].f = 0.1f;
  conv("l2", "c3");
  g.add_node("Clip", {"c3", "lo", "hi"}, {"y2"});
  g.outputs.push_back({"y1", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"y2", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);

  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]),
            "oneDNN convolution + sum + hard_sigmoid");
  EXPECT_EQ(kernel_free(placement.node_implementation[1]), "fused into Conv");
  EXPECT_EQ(kernel_free(placement.node_implementation[3]), "oneDNN convolution + leaky_relu");
  EXPECT_EQ(kernel_free(placement.node_implementation[5]), "oneDNN convolution + clip");
  std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)}};
  exe->run(values);
  exe->run(values);  // the second run uses the prepared primitives

  const auto c1 = conv3x3(xs, ws, c, h, wd);
  std::vector<float> l2(c1.size());
  const auto c2 = c1;  // same input and weights
  for (std::size_t i = 0; i < c2.size(); ++i) l2[i] = c2[i] >= 0 ? c2[i] : 0.1f * c2[i];
  const auto c3 = conv3x3(l2, ws, c, h, wd);
  const float* y1 = values.at("y1").tensor().data_as<float>();
  const float* y2 = values.at("y2").tensor().data_as<float>();
  for (std::size_t i = 0; i < c1.size(); ++i) {
    EXPECT_NEAR(y1[i], std::clamp(0.3f * (c1[i] + xs[i]) + 0.4f, 0.f, 1.f), 1e-5) << i;
    EXPECT_NEAR(y2[i], std::clamp(c3[i], -0.1f, 0.2f), 1e-5) << i;
  }
}

// SiLU, QuickGELU and erf-GELU as exporters write them become one node each and keep the
// formulas (computed here in double).
TEST(Passes, CpuActivationPatternsFuseAndMatchTheFormulas) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{64, ""}}});
  g.constants["k"] = f32({}, {1.702f});
  g.constants["sqrt2"] = f32({}, {std::sqrt(2.f)});
  g.constants["one"] = f32({}, {1.f});
  g.constants["half"] = f32({}, {0.5f});
  g.add_node("Sigmoid", {"x"}, {"s"});
  g.add_node("Mul", {"s", "x"}, {"silu"});
  g.add_node("Mul", {"x", "k"}, {"xk"});
  g.add_node("Sigmoid", {"xk"}, {"sk"});
  g.add_node("Mul", {"x", "sk"}, {"quick"});
  g.add_node("Div", {"x", "sqrt2"}, {"d"});
  g.add_node("Erf", {"d"}, {"e"});
  g.add_node("Add", {"one", "e"}, {"a"});
  g.add_node("Mul", {"a", "x"}, {"m"});
  g.add_node("Mul", {"half", "m"}, {"gelu"});
  for (const char* o : {"silu", "quick", "gelu"})
    g.outputs.push_back({o, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);

  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  int fused = 0;
  for (const auto& impl : kernel_free(placement.node_implementation))
    fused += impl == "fused into Mul";
  EXPECT_EQ(fused, 1 + 2 + 4);
  std::vector<float> xs(64);
  for (int i = 0; i < 64; ++i) xs[i] = -6.f + 0.19f * i;
  std::map<std::string, Value> values = {{"x", f32({64}, xs)}};
  exe->run(values);
  for (int i = 0; i < 64; ++i) {
    const double x = xs[i];
    EXPECT_NEAR(values.at("silu").tensor().data_as<float>()[i], x / (1 + std::exp(-x)), 1e-5);
    EXPECT_NEAR(values.at("quick").tensor().data_as<float>()[i], x / (1 + std::exp(-1.702 * x)),
                1e-5);
    EXPECT_NEAR(values.at("gelu").tensor().data_as<float>()[i],
                0.5 * x * (1 + std::erf(x / std::sqrt(2.0))), 1e-5);
  }
}

// A GEGLU gate as diffusers exports it (Split in two halves along the last axis, erf-GELU of
// the second, times the first) becomes one GatedGelu node and gives the formula's values
// (computed here in double); the same with the halves' roles swapped and the split sizes given
// as an input. A split whose half another node also reads stays as it is.
TEST(Passes, CpuGatedGeluFusesAndMatchesTheFormula) {
  const int64_t rows = 3, half = 37;  // a width off the vector length: the kernel's tail
  for (const bool gate_first : {false, true}) {
    ir::Graph g;
    g.opsets[""] = 17;
    g.inputs.push_back(
        {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{rows, ""}, {2 * half, ""}}});
    g.constants["sqrt2"] = f32({}, {std::sqrt(2.f)});
    g.constants["one"] = f32({}, {1.f});
    g.constants["halfc"] = f32({}, {0.5f});
    std::vector<std::string> split_inputs = {"x"};
    if (gate_first) {
      g.constants["sizes"] = Tensor(ElementType::i64, {2});
      g.constants["sizes"].data_as<int64_t>()[0] = half;
      g.constants["sizes"].data_as<int64_t>()[1] = half;
      split_inputs.push_back("sizes");
    }
    ir::Node& split = g.add_node("Split", split_inputs, {"first", "second"});
    split.attributes["axis"].kind = ir::Attribute::Kind::i;
    split.attributes["axis"].i = -1;
    const std::string gates = gate_first ? "first" : "second";
    const std::string kept = gate_first ? "second" : "first";
    g.add_node("Div", {gates, "sqrt2"}, {"d"});
    g.add_node("Erf", {"d"}, {"e"});
    g.add_node("Add", {"one", "e"}, {"a"});
    g.add_node("Mul", {"a", gates}, {"m"});
    g.add_node("Mul", {"halfc", "m"}, {"gelu"});
    g.add_node("Mul", {kept, "gelu"}, {"y"});
    g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
    ir::validate(g);

    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    const auto impls = kernel_free(exe->placement().node_implementation);
    EXPECT_EQ(std::count(impls.begin(), impls.end(),
                         "vectorised C++ GEGLU gate (values x GELU(gates), no split copies)"),
              1);
    std::vector<float> xs(rows * 2 * half);
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = 4.f * std::sin(0.41f * i);
    std::map<std::string, Value> values = {{"x", f32({rows, 2 * half}, xs)}};
    exe->run(values);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.shape(), (Shape{rows, half}));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < half; ++j) {
        const double v = xs[r * 2 * half + (gate_first ? half : 0) + j];
        const double x = xs[r * 2 * half + (gate_first ? 0 : half) + j];
        ASSERT_NEAR(y.data_as<float>()[r * half + j],
                    v * 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))), 1e-5)
            << r << "," << j << (gate_first ? " gate first" : "");
      }
  }

  // The values half is also a graph output: nothing fuses.
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{2, ""}, {8, ""}}});
  ir::Node& split = g.add_node("Split", {"x"}, {"first", "second"});
  split.attributes["axis"].kind = ir::Attribute::Kind::i;
  split.attributes["axis"].i = 1;
  g.constants["sqrt2"] = f32({}, {std::sqrt(2.f)});
  g.constants["one"] = f32({}, {1.f});
  g.constants["halfc"] = f32({}, {0.5f});
  g.add_node("Div", {"second", "sqrt2"}, {"d"});
  g.add_node("Erf", {"d"}, {"e"});
  g.add_node("Add", {"one", "e"}, {"a"});
  g.add_node("Mul", {"a", "second"}, {"m"});
  g.add_node("Mul", {"halfc", "m"}, {"gelu"});
  g.add_node("Mul", {"first", "gelu"}, {"y"});
  for (const char* o : {"y", "first"})
    g.outputs.push_back({o, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto impls = kernel_free(exe->placement().node_implementation);
  EXPECT_EQ(std::count(impls.begin(), impls.end(),
                       "vectorised C++ GEGLU gate (values x GELU(gates), no split copies)"),
            0);
}

// MatMul with constant weights -> Add(bias) -> Add(residual) -> Relu becomes one FusedMatMul
// (bias, sum and relu) over A's leading dimensions, and gives the formula's values.
TEST(Passes, CpuFusedMatMulMatchesTheFormula) {
  const int b = 2, m = 3, k = 5, n = 4;
  std::vector<float> as(b * m * k), ws(k * n), bias(n), rs(b * m * n);
  for (std::size_t i = 0; i < as.size(); ++i) as[i] = std::sin(0.7f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = std::cos(0.3f * i);
  for (std::size_t i = 0; i < bias.size(); ++i) bias[i] = 0.25f * i - 0.5f;
  for (std::size_t i = 0; i < rs.size(); ++i) rs[i] = 0.1f * i - 1.f;
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"a", PortInfo::Kind::tensor, ElementType::f32, true, {{b, ""}, {m, ""}, {k, ""}}});
  g.inputs.push_back(
      {"r", PortInfo::Kind::tensor, ElementType::f32, true, {{b, ""}, {m, ""}, {n, ""}}});
  g.constants["w"] = f32({k, n}, ws);
  g.constants["bias"] = f32({n}, bias);
  g.add_node("MatMul", {"a", "w"}, {"p"});
  g.add_node("Add", {"bias", "p"}, {"pb"});
  g.add_node("Add", {"pb", "r"}, {"s"});
  g.add_node("Relu", {"s"}, {"y"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  EXPECT_EQ(kernel_free(exe->placement().node_implementation[0]),
            "oneDNN matmul + bias + sum + relu");
  std::map<std::string, Value> values = {{"a", f32({b, m, k}, as)}, {"r", f32({b, m, n}, rs)}};
  exe->run(values);
  const float* y = values.at("y").tensor().data_as<float>();
  for (int row = 0; row < b * m; ++row)
    for (int j = 0; j < n; ++j) {
      double acc = bias[j] + rs[row * n + j];
      for (int i = 0; i < k; ++i) acc += static_cast<double>(as[row * k + i]) * ws[i * n + j];
      EXPECT_NEAR(y[row * n + j], std::max(acc, 0.0), 1e-5) << row << "," << j;
    }
}

namespace {

// Group normalisation of x [1, C, H, W] by the definition, in double: statistics per group of
// C / G channels, then per-channel scale and shift, then SiLU when asked.
std::vector<double> group_norm_formula(const std::vector<float>& x, int64_t c, int64_t hw,
                                       int64_t groups, const std::vector<float>& scale,
                                       const std::vector<float>& shift, bool silu) {
  std::vector<double> y(x.size());
  const int64_t per = c / groups * hw;
  for (int64_t g = 0; g < groups; ++g) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < per; ++i) mean += x[g * per + i];
    mean /= per;
    for (int64_t i = 0; i < per; ++i) var += (x[g * per + i] - mean) * (x[g * per + i] - mean);
    var /= per;
    for (int64_t i = 0; i < per; ++i) {
      const int64_t ch = (g * per + i) / hw;
      double v = (x[g * per + i] - mean) / std::sqrt(var + 1e-5) * scale[ch] + shift[ch];
      if (silu) v = v / (1 + std::exp(-v));
      y[g * per + i] = v;
    }
  }
  return y;
}

}  // namespace

// The exporters' GroupNorm (Reshape, InstanceNormalization, Reshape to Shape(x), Mul, Add) and
// a following SiLU become one GroupNorm node, and so does GroupNormalization-21 + SiLU; both
// give the definition's values.
TEST(Passes, CpuGroupNormPatternsFuseAndMatchTheFormula) {
  const int64_t c = 8, h = 5, w = 7, groups = 4;
  std::vector<float> xs(c * h * w), scale(c), shift(c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = 3.f + 2.f * std::sin(0.71f * i);
  for (int64_t i = 0; i < c; ++i) {
    scale[i] = 0.5f + 0.1f * i;
    shift[i] = -0.3f + 0.05f * i;
  }
  ir::Graph g;
  g.opsets[""] = 21;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1, ""}, {c, ""}, {h, ""}, {w, ""}}});
  Tensor grouping(ElementType::i64, {3});
  grouping.data_as<int64_t>()[0] = 0;
  grouping.data_as<int64_t>()[1] = groups;
  grouping.data_as<int64_t>()[2] = -1;
  g.constants["grouping"] = grouping;
  g.constants["ones"] = f32({groups}, std::vector<float>(groups, 1.f));
  g.constants["zeros"] = f32({groups}, std::vector<float>(groups, 0.f));
  g.constants["scale"] = f32({c, 1, 1}, scale);
  g.constants["shift"] = f32({c, 1, 1}, shift);
  g.constants["scale_flat"] = f32({c}, scale);
  g.constants["shift_flat"] = f32({c}, shift);
  g.add_node("Shape", {"x"}, {"x_shape"});
  g.add_node("Reshape", {"x", "grouping"}, {"grouped"});
  g.add_node("InstanceNormalization", {"grouped", "ones", "zeros"}, {"normed"})
      .attributes["epsilon"]
      .f = 1e-5f;
  g.add_node("Reshape", {"normed", "x_shape"}, {"back"});
  g.add_node("Mul", {"back", "scale"}, {"scaled"});
  g.add_node("Add", {"shift", "scaled"}, {"y1"});  // constant first: either order fuses
  g.add_node("Sigmoid", {"y1"}, {"s1"});
  g.add_node("Mul", {"y1", "s1"}, {"z1"});
  ir::Node& gn = g.add_node("GroupNormalization", {"x", "scale_flat", "shift_flat"}, {"y2"});
  gn.attributes["num_groups"].kind = ir::Attribute::Kind::i;
  gn.attributes["num_groups"].i = groups;
  gn.attributes["epsilon"].f = 1e-5f;
  g.add_node("Sigmoid", {"y2"}, {"s2"});
  g.add_node("Mul", {"s2", "y2"}, {"z2"});
  g.outputs.push_back({"z1", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"z2", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);

  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[2]), "vectorised C++ group norm + swish");
  // Shape(x) of a static shape is folded into a constant before the fusion.
  EXPECT_EQ(kernel_free(placement.node_implementation[0]), "removed by graph optimisation");
  for (std::size_t i : {1, 3, 4, 5, 6, 7})
    EXPECT_EQ(kernel_free(placement.node_implementation[i]), "fused into GroupNorm") << i;
  EXPECT_EQ(kernel_free(placement.node_implementation[8]), "vectorised C++ group norm + swish");
  std::map<std::string, Value> values = {{"x", f32({1, c, h, w}, xs)}};
  exe->run(values);
  const auto want = group_norm_formula(xs, c, h * w, groups, scale, shift, true);
  for (const char* out : {"z1", "z2"}) {
    const float* got = values.at(out).tensor().data_as<float>();
    for (std::size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << out << "[" << i << "]";
  }
}

// MatMul -> Div(scalar) -> Add(mask) -> Softmax -> MatMul becomes one Attention node; with
// broadcast leading dimensions (K shared by the batch, the mask by the heads and rows) and more
// query rows than one block, it gives the definition's values.
TEST(Passes, CpuAttentionFusesAndMatchesTheFormula) {
  const int64_t batch = 2, heads = 3, m = 37, d = 4, n = 6, dv = 2;
  auto values = [](int64_t count, float seed) {
    std::vector<float> v(count);
    for (int64_t i = 0; i < count; ++i) v[i] = std::sin(seed + 0.37f * i);
    return v;
  };
  const auto q = values(batch * heads * m * d, 0.1f), k = values(heads * d * n, 1.1f),
             v = values(batch * heads * n * dv, 2.1f), mask = values(batch * n, 3.1f);
  ir::Graph g;
  g.opsets[""] = 17;
  auto input = [&](const char* name, std::vector<int64_t> dims) { add_f32_input(g, name, dims); };
  input("q", {batch, heads, m, d});
  input("k", {1, heads, d, n});
  input("v", {batch, heads, n, dv});
  input("mask", {batch, 1, 1, n});
  g.constants["root_d"] = f32({}, {2.f});
  g.add_node("MatMul", {"q", "k"}, {"s"});
  g.add_node("Div", {"s", "root_d"}, {"scaled"});
  g.add_node("Add", {"mask", "scaled"}, {"masked"});
  g.add_node("Softmax", {"masked"}, {"p"}).attributes["axis"].i = -1;
  g.add_node("MatMul", {"p", "v"}, {"o"});
  g.outputs.push_back({"o", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);

  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]), f32_attention_implementation());
  for (std::size_t i = 1; i < 5; ++i)
    EXPECT_EQ(kernel_free(placement.node_implementation[i]), "fused into Attention") << i;
  std::map<std::string, Value> feeds = {{"q", f32({batch, heads, m, d}, q)},
                                        {"k", f32({1, heads, d, n}, k)},
                                        {"v", f32({batch, heads, n, dv}, v)},
                                        {"mask", f32({batch, 1, 1, n}, mask)}};
  exe->run(feeds);
  const Tensor& o = feeds.at("o").tensor();
  ASSERT_EQ(o.shape(), (Shape{batch, heads, m, dv}));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < m; ++i) {
        const auto want = attention_row(
            d, n, dv, 0.5, [&](int64_t x) { return q[((b * heads + h) * m + i) * d + x]; },
            [&](int64_t x, int64_t j) { return k[(h * d + x) * n + j]; },
            [&](int64_t j) { return mask[b * n + j]; },
            [&](int64_t j, int64_t c) { return v[((b * heads + h) * n + j) * dv + c]; });
        for (int64_t c = 0; c < dv; ++c)
          ASSERT_NEAR(o.data_as<float>()[((b * heads + h) * m + i) * dv + c], want[c], 1e-5)
              << b << "," << h << "," << i << "," << c;
      }
}

// The CPU plans the values of the graph it runs: the fused attention makes no score matrix, so
// its plan leaves out the scores the model's graph plans (twice: before and after Softmax) and
// equals the peak a run measures.
TEST(Passes, CpuPlansTheValuesOfItsFusedGraph) {
  const int64_t heads = 2, m = 96, d = 8, n = 80;
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "q", {1, heads, m, d});
  add_f32_input(g, "k", {1, heads, d, n});
  add_f32_input(g, "v", {1, heads, n, d});
  g.constants["root_d"] = f32({}, {2.f});
  g.add_node("MatMul", {"q", "k"}, {"s"});
  g.add_node("Div", {"s", "root_d"}, {"scaled"});
  g.add_node("Softmax", {"scaled"}, {"p"}).attributes["axis"].i = -1;
  g.add_node("MatMul", {"p", "v"}, {"o"});
  g.add_node("Sigmoid", {"o"}, {"y"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const int64_t scores = heads * m * n * 4, result = heads * m * d * 4;

  const auto device = cpu::make_cpu_device();
  const int64_t planned = device->planned_activation_bytes(g, {});
  const int64_t graph_plan = ir::estimate_activations(g, ir::infer_shapes(g)).peak_bytes;
  EXPECT_EQ(graph_plan, 2 * scores);  // Div's input and output, then Softmax's
  EXPECT_EQ(planned, 2 * result);  // the attention's output and the Sigmoid's

  const auto exe = device->compile(std::make_shared<ir::Graph>(g), {});
  std::map<std::string, Value> feeds = {
      {"q", f32({1, heads, m, d}, std::vector<float>(heads * m * d, 0.1f))},
      {"k", f32({1, heads, d, n}, std::vector<float>(heads * d * n, 0.2f))},
      {"v", f32({1, heads, n, d}, std::vector<float>(heads * n * d, 0.3f))}};
  device::RunProfile profile;
  profile.time_nodes = false;
  exe->run(feeds, &profile);
  EXPECT_EQ(profile.peak_activation_bytes, planned);
}

// A squeeze-and-excitation block on a batch of two: Conv -> GlobalAveragePool -> Conv(1x1) ->
// Sigmoid -> Mul(conv output, per-sample channel scale) -> Conv. Where the convolutions compute
// channels-last, the pool and the Mul read it directly (no reorders); either way the values are
// the formula's.
TEST(Passes, CpuSqueezeExcitationKeepsTheConvLayoutAndMatchesTheFormula) {
  const int c = 16, h = 5, wd = 6, batch = 2;
  std::vector<float> xs(batch * c * h * wd), w3(c * c * 9), w1(c * c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i);
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.05f * std::cos(0.11f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.2f * std::sin(0.23f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.constants["w3"] = f32({c, c, 3, 3}, w3);
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  with_ints(g.add_node("Conv", {"x", "w3"}, {"c1"}), "pads", {1, 1, 1, 1});
  g.add_node("GlobalAveragePool", {"c1"}, {"pooled"});
  g.add_node("Conv", {"pooled", "w1"}, {"squeezed"});
  g.add_node("Sigmoid", {"squeezed"}, {"gate"});
  g.add_node("Mul", {"gate", "c1"}, {"excited"});
  with_ints(g.add_node("Conv", {"excited", "w3"}, {"y"}), "pads", {1, 1, 1, 1});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  if (cpu::onednn::preferred_conv_layout() == cpu::onednn::kChannelsLast) {
    const auto placement = exe->placement();
    EXPECT_EQ(kernel_free(placement.node_implementation[1]),
              "C++ kernel on the convolutions' channels-last layout");
    EXPECT_EQ(kernel_free(placement.node_implementation[4]),
              "C++ kernel on the convolutions' channels-last layout");
  }
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
  exe->run(values);
  const float* y = values.at("y").tensor().data_as<float>();
  const int plane = h * wd, image = c * plane;
  for (int n = 0; n < batch; ++n) {
    const std::vector<float> xn(xs.begin() + n * image, xs.begin() + (n + 1) * image);
    const auto c1 = conv3x3(xn, w3, c, h, wd);
    std::vector<double> pooled(c, 0.0);
    for (int k = 0; k < c; ++k)
      for (int i = 0; i < plane; ++i) pooled[k] += c1[k * plane + i] / double(plane);
    std::vector<float> excited(image);
    for (int m = 0; m < c; ++m) {
      double s = 0;
      for (int k = 0; k < c; ++k) s += w1[m * c + k] * pooled[k];
      const double gate = 1 / (1 + std::exp(-s));
      for (int i = 0; i < plane; ++i)
        excited[m * plane + i] = static_cast<float>(gate * c1[m * plane + i]);
    }
    const auto want = conv3x3(excited, w3, c, h, wd);
    for (int i = 0; i < image; ++i) ASSERT_NEAR(y[n * image + i], want[i], 1e-5) << n << ":" << i;
  }
}

// GroupNormalization + SiLU between two 1x1 convolutions on a batch of two: where the
// convolutions compute channels-last the group norm reads and writes that layout; the values are
// the definition's either way.
TEST(Passes, CpuGroupNormBetweenConvolutionsMatchesTheFormula) {
  const int64_t c = 8, h = 6, w = 5, groups = 2, batch = 2, hw = h * w;
  std::vector<float> xs(batch * c * hw), w1(c * c), scale(c), shift(c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = 1.f + std::sin(0.53f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.3f * std::cos(0.41f * i);
  for (int64_t i = 0; i < c; ++i) {
    scale[i] = 0.7f + 0.05f * i;
    shift[i] = 0.1f - 0.03f * i;
  }
  ir::Graph g;
  g.opsets[""] = 21;
  add_f32_input(g, "x", {batch, c, h, w});
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  g.constants["scale"] = f32({c}, scale);
  g.constants["shift"] = f32({c}, shift);
  g.add_node("Conv", {"x", "w1"}, {"c1"});
  ir::Node& gn = g.add_node("GroupNormalization", {"c1", "scale", "shift"}, {"n1"});
  gn.attributes["num_groups"].kind = ir::Attribute::Kind::i;
  gn.attributes["num_groups"].i = groups;
  gn.attributes["epsilon"].f = 1e-5f;
  g.add_node("Sigmoid", {"n1"}, {"s1"});
  g.add_node("Mul", {"n1", "s1"}, {"a1"});
  g.add_node("Conv", {"a1", "w1"}, {"y"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, w}, xs)}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  auto conv1x1 = [&](const std::vector<double>& in) {
    std::vector<double> out(in.size(), 0.0);
    for (int64_t m = 0; m < c; ++m)
      for (int64_t k = 0; k < c; ++k)
        for (int64_t i = 0; i < hw; ++i) out[m * hw + i] += w1[m * c + k] * in[k * hw + i];
    return out;
  };
  const float* y = values.at("y").tensor().data_as<float>();
  for (int64_t n = 0; n < batch; ++n) {
    const auto c1 =
        conv1x1(std::vector<double>(xs.begin() + n * c * hw, xs.begin() + (n + 1) * c * hw));
    const std::vector<float> c1f(c1.begin(), c1.end());
    const auto a1 = group_norm_formula(c1f, c, hw, groups, scale, shift, true);
    const auto want = conv1x1(a1);
    for (int64_t i = 0; i < c * hw; ++i)
      ASSERT_NEAR(y[n * c * hw + i], want[i], 2e-5 * (1 + std::fabs(want[i]))) << n << ":" << i;
  }
}

namespace {

// ONNX pooling of one [c][h][w] image, 2-D, by the spec's formulas: windows of k x k from
// position * stride - pad; max over the taps inside the image, or their mean (divisor: the taps
// inside the image, or with count_include_pad the taps inside image + pads).
std::vector<double> pool2d(const std::vector<float>& x, int c, int h, int w, int k, int stride,
                           int pad, bool max, bool ceil_mode, bool include_pad, int* oh_out,
                           int* ow_out) {
  auto out_size = [&](int in) {
    const double q = double(in + 2 * pad - k) / stride;
    return int(ceil_mode ? std::ceil(q) : std::floor(q)) + 1;
  };
  const int oh = out_size(h), ow = out_size(w);
  *oh_out = oh;
  *ow_out = ow;
  std::vector<double> y(static_cast<std::size_t>(c * oh * ow));
  for (int ch = 0; ch < c; ++ch)
    for (int i = 0; i < oh; ++i)
      for (int j = 0; j < ow; ++j) {
        double best = -1e300, sum = 0;
        int inside = 0, padded = 0;
        for (int di = 0; di < k; ++di)
          for (int dj = 0; dj < k; ++dj) {
            const int ii = i * stride - pad + di, jj = j * stride - pad + dj;
            if (ii < h + pad && jj < w + pad) ++padded;
            if (ii < 0 || jj < 0 || ii >= h || jj >= w) continue;
            const double v = x[(ch * h + ii) * w + jj];
            best = std::max(best, v);
            sum += v;
            ++inside;
          }
        y[(ch * oh + i) * ow + j] = max ? best : sum / (include_pad ? padded : inside);
      }
  return y;
}

std::vector<double> conv1x1(const std::vector<double>& x, const std::vector<float>& w, int c,
                            int plane) {
  std::vector<double> y(x.size(), 0.0);
  for (int m = 0; m < c; ++m)
    for (int k = 0; k < c; ++k)
      for (int i = 0; i < plane; ++i) y[m * plane + i] += w[m * c + k] * x[k * plane + i];
  return y;
}

}  // namespace

// Pools between convolutions on a batch of two: MaxPool 3x3/2 pad 1 (a ResNet stem) and
// AveragePool 3x3/2 pad 1 counting the pads pool in the convolutions' layout (no reorders); an
// AveragePool with ceil_mode (ONNX's divisor differs from oneDNN's there) stays plain. Values are
// the spec's formulas in all three.
TEST(Passes, CpuPoolsBetweenConvolutionsKeepTheirLayoutAndMatchTheFormula) {
  const int c = 16, h = 9, wd = 7, batch = 2;
  std::vector<float> xs(batch * c * h * wd), w3(c * c * 9), w1(c * c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.29f * i) + 0.1f;
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.05f * std::cos(0.13f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.2f * std::sin(0.31f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.constants["w3"] = f32({c, c, 3, 3}, w3);
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  auto one = [](ir::Node& n, const char* name, int64_t v) {
    n.attributes[name].kind = ir::Attribute::Kind::i;
    n.attributes[name].i = v;
  };
  auto pool = [&](const char* op, const std::string& in, const std::string& out, int pad) {
    ir::Node& n = g.add_node(op, {in}, {out});
    with_ints(n, "kernel_shape", {3, 3});
    with_ints(n, "strides", {2, 2});
    if (pad) with_ints(n, "pads", {pad, pad, pad, pad});
    return std::ref(n);
  };
  with_ints(g.add_node("Conv", {"x", "w3"}, {"c1"}), "pads", {1, 1, 1, 1});
  pool("MaxPool", "c1", "p1", 1);
  g.add_node("Conv", {"p1", "w1"}, {"y1"});
  g.add_node("Conv", {"x", "w1"}, {"c2"});
  one(pool("AveragePool", "c2", "p2", 1), "count_include_pad", 1);
  g.add_node("Conv", {"p2", "w1"}, {"y2"});
  g.add_node("Conv", {"c1", "w1"}, {"c3"});
  one(pool("AveragePool", "c3", "p3", 0), "ceil_mode", 1);
  g.add_node("Conv", {"p3", "w1"}, {"y3"});
  for (const char* y : {"y1", "y2", "y3"})
    g.outputs.push_back({y, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const std::string preferred = cpu::onednn::preferred_conv_layout();
  const std::string layout = preferred == cpu::onednn::kChannelsLast ? "channels-last"
                             : preferred == cpu::onednn::kBlocked16  ? "nChw16c"
                                                                     : "nChw8c";
  const auto placement = exe->placement();
  if (!preferred.empty()) {
    EXPECT_EQ(kernel_free(placement.node_implementation[1]),
              "oneDNN pooling on the convolutions' " + layout + " layout");
    EXPECT_EQ(kernel_free(placement.node_implementation[4]),
              "oneDNN pooling on the convolutions' " + layout + " layout");
  }
  EXPECT_EQ(kernel_free(placement.node_implementation[7]), "C++ kernel");  // the ONNX AveragePool
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
  exe->run(values);
  const int plane = h * wd, image = c * plane;
  for (int n = 0; n < batch; ++n) {
    const std::vector<float> xn(xs.begin() + n * image, xs.begin() + (n + 1) * image);
    const auto c1 = conv3x3(xn, w3, c, h, wd);
    const auto c2 = conv1x1(std::vector<double>(xn.begin(), xn.end()), w1, c, plane);
    const auto c3 = conv1x1(std::vector<double>(c1.begin(), c1.end()), w1, c, plane);
    const std::vector<float> c2f(c2.begin(), c2.end()), c3f(c3.begin(), c3.end());
    int oh = 0, ow = 0;
    struct Case {
      const char* name;
      std::vector<double> want;
    };
    std::vector<Case> cases;
    cases.push_back({"y1", pool2d(c1, c, h, wd, 3, 2, 1, true, false, false, &oh, &ow)});
    cases.push_back({"y2", pool2d(c2f, c, h, wd, 3, 2, 1, false, false, true, &oh, &ow)});
    cases.push_back({"y3", pool2d(c3f, c, h, wd, 3, 2, 0, false, true, false, &oh, &ow)});
    for (auto& cs : cases) {
      const Tensor& y = values.at(cs.name).tensor();
      const int pooled_plane = static_cast<int>(y.shape()[2] * y.shape()[3]);
      const auto want = conv1x1(cs.want, w1, c, pooled_plane);
      ASSERT_EQ(static_cast<std::size_t>(c * pooled_plane), want.size()) << cs.name;
      for (int i = 0; i < c * pooled_plane; ++i)
        ASSERT_NEAR(y.data_as<float>()[n * c * pooled_plane + i], want[i], 1e-5)
            << cs.name << " " << n << ":" << i;
    }
  }
}

// Gemm(A, B^T, C) with constant weights (transB = 1, as classifiers are exported) and a Relu
// becomes a FusedMatMul with the weights transposed once; values are the formula's.
TEST(Passes, CpuGemmWithConstantWeightsFusesAndMatchesTheFormula) {
  const int64_t m = 3, k = 5, n = 4;
  std::vector<float> as(m * k), ws(n * k), cs(n);
  for (std::size_t i = 0; i < as.size(); ++i) as[i] = std::sin(0.7f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = std::cos(0.3f * i);
  for (int64_t i = 0; i < n; ++i) cs[i] = 0.25f * i - 0.5f;
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"a", PortInfo::Kind::tensor, ElementType::f32, true, {{m, ""}, {k, ""}}});
  g.constants["w"] = f32({n, k}, ws);
  g.constants["c"] = f32({n}, cs);
  ir::Node& gemm = g.add_node("Gemm", {"a", "w", "c"}, {"y"});
  gemm.attributes["transB"].kind = ir::Attribute::Kind::i;
  gemm.attributes["transB"].i = 1;
  g.add_node("Relu", {"y"}, {"z"});
  g.outputs.push_back({"z", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  EXPECT_EQ(kernel_free(exe->placement().node_implementation[0]), "oneDNN matmul + bias + relu");
  std::map<std::string, Value> values = {{"a", f32({m, k}, as)}};
  exe->run(values);
  const float* z = values.at("z").tensor().data_as<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double want = cs[j];
      for (int64_t p = 0; p < k; ++p) want += double(as[i * k + p]) * ws[j * k + p];
      EXPECT_NEAR(z[i * n + j], std::max(want, 0.0), 1e-5) << i << "," << j;
    }
}

// Layer normalisation as exported before opset 17 (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt,
// Div, Mul, Add) becomes one LayerNormalization; so does the variant with Mul(d, d), opset-18
// axes inputs and no affine part. Both give the definition's values.
TEST(Passes, CpuDecomposedLayerNormsFuseAndMatchTheFormula) {
  const int64_t rows = 6, width = 10;
  std::vector<float> xs(rows * width), gamma(width), beta(width);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = 2.f + 3.f * std::sin(0.61f * i);
  for (int64_t i = 0; i < width; ++i) {
    gamma[i] = 0.5f + 0.1f * i;
    beta[i] = 0.2f - 0.05f * i;
  }
  for (int variant = 0; variant < 2; ++variant) {
    ir::Graph g;
    g.opsets[""] = variant == 0 ? 13 : 18;
    g.inputs.push_back(
        {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{rows, ""}, {width, ""}}});
    g.constants["two"] = f32({}, {2.f});
    g.constants["eps"] = f32({}, {1e-5f});
    g.constants["gamma"] = f32({width}, gamma);
    g.constants["beta"] = f32({width}, beta);
    Tensor last(ElementType::i64, {1});
    last.data_as<int64_t>()[0] = -1;
    g.constants["last"] = last;
    auto mean = [&](const std::string& in, const std::string& out) {
      if (variant == 0) {
        ir::Node& n = g.add_node("ReduceMean", {in}, {out});
        n.attributes["axes"].kind = ir::Attribute::Kind::ints;
        n.attributes["axes"].ints = {-1};
      } else {
        g.add_node("ReduceMean", {in, "last"}, {out});
      }
    };
    mean("x", "m");
    g.add_node("Sub", {"x", "m"}, {"d"});
    if (variant == 0)
      g.add_node("Pow", {"d", "two"}, {"p"});
    else
      g.add_node("Mul", {"d", "d"}, {"p"});
    mean("p", "v");
    g.add_node("Add", {"v", "eps"}, {"e"});
    g.add_node("Sqrt", {"e"}, {"s"});
    g.add_node("Div", {"d", "s"}, {"n"});
    std::string y = "n";
    if (variant == 0) {
      g.add_node("Mul", {"gamma", "n"}, {"scaled"});
      g.add_node("Add", {"scaled", "beta"}, {"y"});
      y = "y";
    }
    g.outputs.push_back({y, PortInfo::Kind::tensor, ElementType::f32, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[0]),
              "oneDNN layer norm (f32) / C++ kernel")
        << variant;
    std::map<std::string, Value> values = {{"x", f32({rows, width}, xs)}};
    exe->run(values);
    const float* out = values.at(y).tensor().data_as<float>();
    for (int64_t r = 0; r < rows; ++r) {
      double mu = 0, var = 0;
      for (int64_t i = 0; i < width; ++i) mu += xs[r * width + i] / double(width);
      for (int64_t i = 0; i < width; ++i)
        var += (xs[r * width + i] - mu) * (xs[r * width + i] - mu) / double(width);
      for (int64_t i = 0; i < width; ++i) {
        double want = (xs[r * width + i] - mu) / std::sqrt(var + 1e-5);
        if (variant == 0) want = want * gamma[i] + beta[i];
        ASSERT_NEAR(out[r * width + i], want, 1e-5) << variant << ":" << r << "," << i;
      }
    }
  }
}

// GELU's tanh approximation as GPT-2 exports it (Pow, Mul(x, 0.5) first) and as x*x*x with the
// 0.5 last: one GeluTanh node each, the formula's values.
TEST(Passes, CpuGeluTanhPatternsFuseAndMatchTheFormula) {
  const int64_t n = 64;
  std::vector<float> xs(n);
  for (int64_t i = 0; i < n; ++i) xs[i] = -6.f + 12.f * float(i) / float(n - 1);
  ir::Graph g;
  g.opsets[""] = 13;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{n, ""}}});
  g.constants["three"] = f32({}, {3.f});
  g.constants["k"] = f32({}, {0.044715f});
  g.constants["c"] = f32({}, {0.7978845608f});
  g.constants["one"] = f32({}, {1.f});
  g.constants["half"] = f32({}, {0.5f});
  auto tanh_part = [&](const std::string& p, const std::string& cube) {
    g.add_node("Mul", {"k", cube}, {p + "b"});
    g.add_node("Add", {"x", p + "b"}, {p + "c"});
    g.add_node("Mul", {p + "c", "c"}, {p + "d"});
    g.add_node("Tanh", {p + "d"}, {p + "e"});
    g.add_node("Add", {"one", p + "e"}, {p + "f"});
    return p + "f";
  };
  g.add_node("Pow", {"x", "three"}, {"a1"});
  const std::string t1 = tanh_part("1", "a1");
  g.add_node("Mul", {"x", "half"}, {"h1"});
  g.add_node("Mul", {"h1", t1}, {"y1"});
  g.add_node("Mul", {"x", "x"}, {"sq"});
  g.add_node("Mul", {"sq", "x"}, {"a2"});
  const std::string t2 = tanh_part("2", "a2");
  g.add_node("Mul", {t2, "x"}, {"m2"});
  g.add_node("Mul", {"m2", "half"}, {"y2"});
  g.outputs.push_back({"y1", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"y2", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  int fused = 0, gelu = 0;
  for (const auto& impl : kernel_free(placement.node_implementation)) {
    fused += impl == "fused into Mul";
    gelu += impl == "oneDNN GeluTanh (f32) / C++ kernel";
  }
  EXPECT_EQ(gelu, 2);
  EXPECT_EQ(fused, 7 + 8);  // all nodes of each pattern but the final Mul
  std::map<std::string, Value> values = {{"x", f32({n}, xs)}};
  exe->run(values);
  for (const char* out : {"y1", "y2"})
    for (int64_t i = 0; i < n; ++i) {
      const double x = xs[i];
      const double want = 0.5 * x * (1 + std::tanh(0.7978845608 * (x + 0.044715 * x * x * x)));
      ASSERT_NEAR(values.at(out).tensor().data_as<float>()[i], want, 1e-5) << out << ":" << i;
    }
}

// Which nodes compute in bf16 and which values pass between them in bf16: convolutions and
// products do; a grouped convolution only where a bf16 convolution makes its input (for
// convolutions only). A value is stored in bf16 only where every reader is a bf16 node of the
// producer's kind reading it as data input; residuals, graph outputs, values read by another
// kind and products with K = 0 stay f32. Attention computes in bf16 but reads and writes f32.
TEST(Passes, CpuBf16MarkingStoresOnlyValuesBetweenBf16NodesInBf16) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {}});
  g.constants["w"] = f32({4, 4, 1, 1}, std::vector<float>(16, 0.5f));
  g.constants["wg"] = f32({4, 1, 3, 3}, std::vector<float>(36, 0.5f));
  g.constants["m"] = f32({4, 4}, std::vector<float>(16, 0.5f));
  g.constants["m0"] = f32({0, 4}, {});
  auto fused = [&](const char* op, std::vector<std::string> in, const std::string& out) {
    ir::Node& n = g.add_node(op, std::move(in), {out});
    n.domain = cpu::kCpuDomain;
    return std::ref(n);
  };
  auto group = [](ir::Node& n) {
    n.attributes["group"].kind = ir::Attribute::Kind::i;
    n.attributes["group"].i = 4;
  };
  fused("FusedConv", {"x", "w"}, "a");           // 0: -> b only, as data: bf16
  fused("FusedConv", {"a", "w"}, "b");           // 1: read as residual by d: f32
  fused("FusedConv", {"b", "w"}, "c");           // 2: read by d, e, c2 as data: bf16
  fused("FusedConv", {"c", "w", "", "b"}, "d");  // 3: has a residual: its result stays f32
  group(fused("FusedConv", {"c", "wg"}, "e"));   // 4: grouped, input from a bf16 conv: bf16
  fused("FusedConv", {"c", "w"}, "c2");          // 5: graph output: f32
  fused("FusedMatMul", {"x", "m"}, "p");         // 6: -> q, and the attention: f32
  fused("FusedMatMul", {"p", "m"}, "q");         // 7: read by a conv (another kind): f32
  fused("FusedConv", {"q", "w"}, "r");           // 8: -> K = 0 product: f32
  fused("FusedMatMul", {"r", "m0"}, "s");        // 9
  group(fused("FusedConv", {"x", "wg"}, "f"));   // 10: grouped on a graph input: f32 compute
  fused("Attention", {"p", "p", "p"}, "att");    // 11: bf16 products, f32 in and out
  for (const char* y : {"d", "e", "c2", "s", "f", "att"})
    g.outputs.push_back({y, PortInfo::Kind::tensor, ElementType::f32, false, {}});

  const cpu::Bf16Marking marked = cpu::mark_bf16(g);
  EXPECT_EQ(marked.nodes, 11);  // all but the grouped convolution on the graph input
  EXPECT_EQ(marked.values, 2);  // a, c (p is read by the attention too)
  auto flag = [&](std::size_t node, const char* name) {
    const ir::Attribute* a = g.nodes[node].find(name);
    return a && a->i == 1;
  };
  EXPECT_TRUE(flag(4, "compute_bf16"));
  EXPECT_FALSE(flag(10, "compute_bf16"));
  EXPECT_TRUE(flag(11, "compute_bf16"));
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const bool dst = i == 0 || i == 2;
    const bool src = i == 1 || i == 3 || i == 4 || i == 5;
    EXPECT_EQ(flag(i, "dst_bf16"), dst) << i;
    EXPECT_EQ(flag(i, "src_bf16"), src) << i;
  }
}

// Attention as exporters write it: heads split by Transposes of [batch, seq, heads, dim] (keys
// straight to [batch, heads, dim, seq]) and merged by a Transpose of the result. Those absorbed
// are read and written through strides; a Transpose that moves the data's last axis to the
// front of Q's matrix (here Q given as [batch, dim, seq, heads]) cannot be read so and stays.
// Values are the formula's in both.
TEST(Passes, CpuAttentionAbsorbsHeadTransposesAndMatchesTheFormula) {
  const int64_t batch = 2, heads = 3, m = 35, n = 7, d = 4, dv = 5;
  auto values = [](int64_t count, float seed) {
    std::vector<float> v(count);
    for (int64_t i = 0; i < count; ++i) v[i] = std::sin(seed + 0.41f * i);
    return v;
  };
  // q0 [b, m, h, d]; q1 [b, d, m, h] (both give Q [b, h, m, d]); k [b, n, h, d]; v [b, n, h, dv].
  const auto q0 = values(batch * m * heads * d, 0.3f), q1 = values(batch * d * m * heads, 0.7f),
             ks = values(batch * n * heads * d, 1.3f), vs = values(batch * n * heads * dv, 2.3f);
  ir::Graph g;
  g.opsets[""] = 17;
  auto input = [&](const char* name, std::vector<int64_t> dims) { add_f32_input(g, name, dims); };
  input("q0", {batch, m, heads, d});
  input("q1", {batch, d, m, heads});
  input("k", {batch, n, heads, d});
  input("v", {batch, n, heads, dv});
  g.constants["scale"] = f32({}, {0.5f});
  auto transpose = [&](const std::string& x, const std::string& y, std::vector<int64_t> perm) {
    with_ints(g.add_node("Transpose", {x}, {y}), "perm", std::move(perm));
  };
  for (const std::string which : {"0", "1"}) {
    transpose("q" + which, "qh" + which,
              which == "0" ? std::vector<int64_t>{0, 2, 1, 3} : std::vector<int64_t>{0, 3, 2, 1});
    transpose("k", "kt" + which, {0, 2, 3, 1});
    transpose("v", "vh" + which, {0, 2, 1, 3});
    g.add_node("MatMul", {"qh" + which, "kt" + which}, {"s" + which});
    g.add_node("Mul", {"s" + which, "scale"}, {"ss" + which});
    g.add_node("Softmax", {"ss" + which}, {"p" + which}).attributes["axis"].i = -1;
    g.add_node("MatMul", {"p" + which, "vh" + which}, {"o" + which});
    transpose("o" + which, "y" + which, {0, 2, 1, 3});
    g.outputs.push_back({"y" + which, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  }
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  std::map<std::string, int> implementations;
  for (const auto& impl : kernel_free(placement.node_implementation)) ++implementations[impl];
  EXPECT_EQ(implementations[f32_attention_implementation()], 2);
  EXPECT_EQ(implementations["C++ kernel"], 1);  // the Transpose of q1
  std::map<std::string, Value> feeds = {{"q0", f32({batch, m, heads, d}, q0)},
                                        {"q1", f32({batch, d, m, heads}, q1)},
                                        {"k", f32({batch, n, heads, d}, ks)},
                                        {"v", f32({batch, n, heads, dv}, vs)}};
  exe->run(feeds);
  for (const std::string which : {"0", "1"}) {
    const Tensor& y = feeds.at("y" + which).tensor();
    ASSERT_EQ(y.shape(), (Shape{batch, m, heads, dv}));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < m; ++i) {
          auto q_at = [&](int64_t x) {
            return which == "0" ? q0[((b * m + i) * heads + h) * d + x]
                                : q1[((b * d + x) * m + i) * heads + h];
          };
          const auto want = attention_row(
              d, n, dv, 0.5, q_at,
              [&](int64_t x, int64_t j) { return ks[((b * n + j) * heads + h) * d + x]; },
              [](int64_t) { return 0.0; },
              [&](int64_t j, int64_t c) { return vs[((b * n + j) * heads + h) * dv + c]; });
          for (int64_t c = 0; c < dv; ++c)
            ASSERT_NEAR(y.data_as<float>()[((b * m + i) * heads + h) * dv + c], want[c], 1e-5)
                << which << ": " << b << "," << h << "," << i << "," << c;
        }
  }
}

// Squeeze-and-excitation blocks on a batch of two become one SqueezeExcite node: (a) between
// convolutions (channels-last where the convolutions compute so): GlobalAveragePool -> Conv 1x1
// + bias -> Relu -> Conv 1x1 + bias -> HardSigmoid -> Mul(x, s); (b) on a graph input (plain
// NCHW), as TensorFlow exports write it: ReduceMean(axes 2,3) -> Conv 1x1 -> SiLU -> Conv 1x1 ->
// Sigmoid -> Mul(s, x). Values are the formula's.
TEST(Passes, CpuSqueezeExcitationBlocksFuseAndMatchTheFormula) {
  const int c = 16, hidden = 4, h = 5, wd = 6, batch = 2, plane = h * wd, image = c * plane;
  std::vector<float> xs(batch * image), w3(c * c * 9), w1(hidden * c), b1(hidden), w2(c * hidden),
      b2(c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i) + 0.2f;
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.05f * std::cos(0.11f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.3f * std::sin(0.23f * i);
  for (std::size_t i = 0; i < w2.size(); ++i) w2[i] = 0.4f * std::cos(0.19f * i);
  for (int i = 0; i < hidden; ++i) b1[i] = 0.1f * i - 0.1f;
  for (int i = 0; i < c; ++i) b2[i] = 0.05f * i - 0.3f;
  ir::Graph g;
  g.opsets[""] = 13;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.constants["w3"] = f32({c, c, 3, 3}, w3);
  g.constants["w1"] = f32({hidden, c, 1, 1}, w1);
  g.constants["b1"] = f32({hidden}, b1);
  g.constants["w2"] = f32({c, hidden, 1, 1}, w2);
  g.constants["b2"] = f32({c}, b2);
  // (a)
  with_ints(g.add_node("Conv", {"x", "w3"}, {"c1"}), "pads", {1, 1, 1, 1});
  g.add_node("GlobalAveragePool", {"c1"}, {"pa"});
  g.add_node("Conv", {"pa", "w1", "b1"}, {"ha"});
  g.add_node("Relu", {"ha"}, {"ra"});
  g.add_node("Conv", {"ra", "w2", "b2"}, {"ga"});
  g.add_node("HardSigmoid", {"ga"}, {"sa"});
  g.add_node("Mul", {"c1", "sa"}, {"ea"});
  with_ints(g.add_node("Conv", {"ea", "w3"}, {"ya"}), "pads", {1, 1, 1, 1});
  // (b)
  ir::Node& mean = g.add_node("ReduceMean", {"x"}, {"pb"});
  mean.attributes["axes"].kind = ir::Attribute::Kind::ints;
  mean.attributes["axes"].ints = {2, -1};
  g.add_node("Conv", {"pb", "w1", "b1"}, {"hb"});
  g.add_node("Sigmoid", {"hb"}, {"sig_hb"});
  g.add_node("Mul", {"hb", "sig_hb"}, {"rb"});
  g.add_node("Conv", {"rb", "w2", "b2"}, {"gb"});
  g.add_node("Sigmoid", {"gb"}, {"sb"});
  g.add_node("Mul", {"sb", "x"}, {"yb"});
  for (const char* y : {"ya", "yb"})
    g.outputs.push_back({y, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  int fused = 0;
  for (const auto& impl : kernel_free(placement.node_implementation))
    fused += impl.rfind("C++ squeeze-and-excitation", 0) == 0;
  EXPECT_EQ(fused, 2);
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
  exe->run(values);
  // The excitation of one image [c][plane]: per-channel scale.
  auto excite = [&](const std::vector<double>& img, bool tf_style) {
    std::vector<double> mean(c, 0.0), hid(hidden), s(c);
    for (int k = 0; k < c; ++k)
      for (int i = 0; i < plane; ++i) mean[k] += img[k * plane + i] / plane;
    for (int o = 0; o < hidden; ++o) {
      double v = b1[o];
      for (int k = 0; k < c; ++k) v += w1[o * c + k] * mean[k];
      hid[o] = tf_style ? v / (1 + std::exp(-v)) : std::max(v, 0.0);
    }
    for (int k = 0; k < c; ++k) {
      double v = b2[k];
      for (int o = 0; o < hidden; ++o) v += w2[k * hidden + o] * hid[o];
      s[k] = tf_style ? 1 / (1 + std::exp(-v)) : std::clamp(0.2 * v + 0.5, 0.0, 1.0);
    }
    std::vector<double> out(img.size());
    for (int k = 0; k < c; ++k)
      for (int i = 0; i < plane; ++i) out[k * plane + i] = img[k * plane + i] * s[k];
    return out;
  };
  const float* ya = values.at("ya").tensor().data_as<float>();
  const float* yb = values.at("yb").tensor().data_as<float>();
  for (int n = 0; n < batch; ++n) {
    const std::vector<float> xn(xs.begin() + n * image, xs.begin() + (n + 1) * image);
    const auto c1 = conv3x3(xn, w3, c, h, wd);
    const auto ea = excite(std::vector<double>(c1.begin(), c1.end()), false);
    const auto want_a = conv3x3(std::vector<float>(ea.begin(), ea.end()), w3, c, h, wd);
    const auto want_b = excite(std::vector<double>(xn.begin(), xn.end()), true);
    for (int i = 0; i < image; ++i) {
      ASSERT_NEAR(ya[n * image + i], want_a[i], 1e-5) << "a " << n << ":" << i;
      ASSERT_NEAR(yb[n * image + i], want_b[i], 1e-5) << "b " << n << ":" << i;
    }
  }
}

// A per-channel, per-sample Add between convolutions (a diffusion resblock's timestep
// embedding, [N, C] unsqueezed to [N, C, 1, 1]) on a batch of two: channels-last where the
// convolutions compute so (ChannelShift), no reorders; values are the formula's.
TEST(Passes, CpuChannelAddBetweenConvolutionsKeepsTheLayoutAndMatchesTheFormula) {
  const int c = 16, h = 5, wd = 6, batch = 2, plane = h * wd, image = c * plane;
  std::vector<float> xs(batch * image), ts(batch * c), w3(c * c * 9);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.31f * i);
  for (std::size_t i = 0; i < ts.size(); ++i) ts[i] = std::cos(0.7f * i);
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.05f * std::cos(0.17f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.inputs.push_back({"t", PortInfo::Kind::tensor, ElementType::f32, true, {{batch, ""}, {c, ""}}});
  g.constants["w3"] = f32({c, c, 3, 3}, w3);
  Tensor axes(ElementType::i64, {2});
  axes.data_as<int64_t>()[0] = 2;
  axes.data_as<int64_t>()[1] = 3;
  g.constants["axes"] = axes;
  with_ints(g.add_node("Conv", {"x", "w3"}, {"c1"}), "pads", {1, 1, 1, 1});
  g.add_node("Unsqueeze", {"t", "axes"}, {"tu"});
  g.add_node("Add", {"tu", "c1"}, {"shifted"});
  with_ints(g.add_node("Conv", {"shifted", "w3"}, {"y"}), "pads", {1, 1, 1, 1});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  if (cpu::onednn::preferred_conv_layout() == cpu::onednn::kChannelsLast) {
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[2]),
              "C++ kernel on the convolutions' channels-last layout");
  }
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)},
                                         {"t", f32({batch, c}, ts)}};
  exe->run(values);
  const float* y = values.at("y").tensor().data_as<float>();
  for (int n = 0; n < batch; ++n) {
    const std::vector<float> xn(xs.begin() + n * image, xs.begin() + (n + 1) * image);
    auto shifted = conv3x3(xn, w3, c, h, wd);
    for (int k = 0; k < c; ++k)
      for (int i = 0; i < plane; ++i) shifted[k * plane + i] += ts[n * c + k];
    const auto want = conv3x3(shifted, w3, c, h, wd);
    for (int i = 0; i < image; ++i) ASSERT_NEAR(y[n * image + i], want[i], 1e-5) << n << ":" << i;
  }
}

// An image turned into tokens for a linear layer and back, as diffusion models' spatial
// transformers do (Conv -> Reshape [N, C, HW] -> Transpose -> MatMul -> Transpose -> Reshape ->
// Conv), on a batch of two: where the convolutions compute channels-last, both Reshape +
// Transpose pairs become views of the same memory (no copies); values are the formula's.
TEST(Passes, CpuTokensOfChannelsLastImagesAreViewsAndMatchTheFormula) {
  const int c = 16, h = 3, wd = 5, batch = 2, plane = h * wd, image = c * plane;
  std::vector<float> xs(batch * image), w1(c * c), m(c * c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.43f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.2f * std::cos(0.13f * i);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = 0.3f * std::sin(0.29f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  g.constants["m"] = f32({c, c}, m);
  auto ints = [&](const char* name, std::vector<int64_t> v) {
    Tensor t(ElementType::i64, {static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t.data_as<int64_t>());
    g.constants[name] = t;
  };
  ints("flat", {0, 0, -1});
  ints("image", {0, c, h, wd});
  auto transpose = [&](const std::string& in, const std::string& out) {
    with_ints(g.add_node("Transpose", {in}, {out}), "perm", {0, 2, 1});
  };
  g.add_node("Conv", {"x", "w1"}, {"c1"});
  g.add_node("Reshape", {"c1", "flat"}, {"f1"});
  transpose("f1", "tokens");
  g.add_node("MatMul", {"tokens", "m"}, {"mixed"});
  transpose("mixed", "f2");
  g.add_node("Reshape", {"f2", "image"}, {"back"});
  g.add_node("Conv", {"back", "w1"}, {"y"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  if (cpu::onednn::preferred_conv_layout() == cpu::onednn::kChannelsLast) {
    const auto placement = exe->placement();
    EXPECT_EQ(kernel_free(placement.node_implementation[1]),
              "view of the convolutions' channels-last memory (no copy)");
    EXPECT_EQ(kernel_free(placement.node_implementation[2]), "fused into Transpose");
    EXPECT_EQ(kernel_free(placement.node_implementation[4]),
              "view of the convolutions' channels-last memory (no copy)");
    EXPECT_EQ(kernel_free(placement.node_implementation[5]), "fused into Transpose");
  }
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
  exe->run(values);
  const float* y = values.at("y").tensor().data_as<float>();
  for (int n = 0; n < batch; ++n) {
    std::vector<double> c1(image, 0.0), mixed(image, 0.0), want(image, 0.0);
    for (int o = 0; o < c; ++o)
      for (int k = 0; k < c; ++k)
        for (int i = 0; i < plane; ++i)
          c1[o * plane + i] += w1[o * c + k] * xs[n * image + k * plane + i];
    // tokens[i][k] = c1[k][i]; mixed[i][j] = sum_k tokens[i][k] m[k][j], back in [C][HW].
    for (int i = 0; i < plane; ++i)
      for (int j = 0; j < c; ++j)
        for (int k = 0; k < c; ++k) mixed[j * plane + i] += c1[k * plane + i] * m[k * c + j];
    for (int o = 0; o < c; ++o)
      for (int k = 0; k < c; ++k)
        for (int i = 0; i < plane; ++i) want[o * plane + i] += w1[o * c + k] * mixed[k * plane + i];
    for (int i = 0; i < image; ++i) ASSERT_NEAR(y[n * image + i], want[i], 1e-5) << n << ":" << i;
  }
}

namespace {

// ConvNeXt's LayerNorm over the channels of an image, as its reference code writes it:
// (v - mean_c v) / sqrt(mean_c (v - mean_c v)^2 + eps) * gamma[C,1,1] + beta[C,1,1]. Appends the
// nodes reading `v` (names prefixed by `p`) and returns the output's name.
std::string channels_first_layer_norm(ir::Graph& g, const std::string& v, const std::string& p) {
  auto mean_over_channels = [&](const std::string& in, const std::string& out) {
    ir::Node& n = with_ints(g.add_node("ReduceMean", {in}, {out}), "axes", {1});
    n.attributes["keepdims"].kind = ir::Attribute::Kind::i;
    n.attributes["keepdims"].i = 1;
  };
  mean_over_channels(v, p + "mu");
  g.add_node("Sub", {v, p + "mu"}, {p + "d"});
  g.add_node("Pow", {p + "d", "two"}, {p + "sq"});
  mean_over_channels(p + "sq", p + "var");
  g.add_node("Add", {p + "var", "eps"}, {p + "ve"});
  g.add_node("Sqrt", {p + "ve"}, {p + "sd"});
  g.add_node("Div", {p + "d", p + "sd"}, {p + "n"});
  g.add_node("Mul", {p + "n", "gamma"}, {p + "s"});
  g.add_node("Add", {p + "s", "beta"}, {p + "ln"});
  return p + "ln";
}

// The same by the formula, on one image [c][plane].
std::vector<double> channel_layer_norm(const std::vector<double>& v, int c, int plane,
                                       const std::vector<float>& gamma,
                                       const std::vector<float>& beta, double eps) {
  std::vector<double> y(v.size());
  for (int i = 0; i < plane; ++i) {
    double mean = 0, var = 0;
    for (int k = 0; k < c; ++k) mean += v[k * plane + i] / c;
    for (int k = 0; k < c; ++k) var += (v[k * plane + i] - mean) * (v[k * plane + i] - mean) / c;
    for (int k = 0; k < c; ++k)
      y[k * plane + i] = (v[k * plane + i] - mean) / std::sqrt(var + eps) * gamma[k] + beta[k];
  }
  return y;
}

}  // namespace

// A ConvNeXt block on a batch of two: Conv -> LayerNorm over channels -> Transpose to NHWC ->
// MatMul -> Transpose back -> residual Add -> Conv, and a spatial ReduceMean of the sum. Where the
// convolutions compute channels-last, the norm is one ChannelLayerNorm in that layout, both
// Transposes are views, the residual Add adds channels-last tensors, and the ReduceMean (which
// reads plain NCHW only) gets one plain copy. The same norm on a graph input runs on NCHW.
// Values are the formula's in both.
TEST(Passes, CpuConvNextBlockKeepsTheConvLayoutAndMatchesTheFormula) {
  const int c = 16, h = 3, wd = 5, batch = 2, plane = h * wd, image = c * plane;
  const float eps = 1e-6f;
  std::vector<float> xs(batch * image), w1(c * c), m(c * c), gamma(c), beta(c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.43f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.2f * std::cos(0.13f * i);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = 0.3f * std::sin(0.29f * i);
  for (int k = 0; k < c; ++k) {
    gamma[k] = 1.f + 0.1f * std::cos(0.5f * k);
    beta[k] = 0.2f * std::sin(0.8f * k);
  }
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  g.constants["m"] = f32({c, c}, m);
  g.constants["gamma"] = f32({c, 1, 1}, gamma);
  g.constants["beta"] = f32({c, 1, 1}, beta);
  g.constants["two"] = f32({}, {2.f});
  g.constants["eps"] = f32({}, {eps});
  g.add_node("Conv", {"x", "w1"}, {"c1"});
  const std::string ln = channels_first_layer_norm(g, "c1", "a_");  // nodes 1-9
  with_ints(g.add_node("Transpose", {ln}, {"t"}), "perm", {0, 2, 3, 1});
  g.add_node("MatMul", {"t", "m"}, {"mm"});
  with_ints(g.add_node("Transpose", {"mm"}, {"back"}), "perm", {0, 3, 1, 2});
  g.add_node("Add", {"c1", "back"}, {"res"});
  g.add_node("Conv", {"res", "w1"}, {"y"});
  ir::Node& pool = with_ints(g.add_node("ReduceMean", {"res"}, {"pooled"}), "axes", {2, 3});
  pool.attributes["keepdims"].kind = ir::Attribute::Kind::i;
  pool.attributes["keepdims"].i = 0;
  const std::string plain_ln = channels_first_layer_norm(g, "x", "b_");  // nodes 16-24
  for (const std::string& out : {std::string("y"), std::string("pooled"), plain_ln})
    g.outputs.push_back({out, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  for (std::size_t i : {2, 3, 4, 5, 6, 7, 8, 9})
    EXPECT_EQ(kernel_free(placement.node_implementation[i]), "fused into LayerNorm") << i;
  EXPECT_EQ(kernel_free(placement.node_implementation[16]),
            "vectorised C++ layer norm over channels");
  if (cpu::onednn::preferred_conv_layout() == cpu::onednn::kChannelsLast) {
    EXPECT_EQ(kernel_free(placement.node_implementation[1]),
              "oneDNN layer norm over the channels of channels-last memory");
    EXPECT_EQ(kernel_free(placement.node_implementation[10]),
              "view of the convolutions' channels-last memory (no copy)");
    EXPECT_EQ(kernel_free(placement.node_implementation[12]),
              "view of the convolutions' channels-last memory (no copy)");
  }
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
  exe->run(values);
  const float* y = values.at("y").tensor().data_as<float>();
  const float* pooled = values.at("pooled").tensor().data_as<float>();
  const float* normed = values.at(plain_ln).tensor().data_as<float>();
  ASSERT_EQ(values.at("pooled").tensor().shape(), (Shape{batch, c}));
  for (int n = 0; n < batch; ++n) {
    const std::vector<double> xn(xs.begin() + n * image, xs.begin() + (n + 1) * image);
    const auto plain_want = channel_layer_norm(xn, c, plane, gamma, beta, eps);
    for (int i = 0; i < image; ++i)
      ASSERT_NEAR(normed[n * image + i], plain_want[i], 1e-5) << n << ":" << i;
    const auto c1 = conv1x1(xn, w1, c, plane);
    const auto lnv = channel_layer_norm(c1, c, plane, gamma, beta, eps);
    std::vector<double> res = c1;
    // back[j][i] = sum_k ln[k][i] m[k][j] (the tokens' product, transposed back).
    for (int i = 0; i < plane; ++i)
      for (int j = 0; j < c; ++j)
        for (int k = 0; k < c; ++k) res[j * plane + i] += lnv[k * plane + i] * m[k * c + j];
    const auto want = conv1x1(res, w1, c, plane);
    for (int i = 0; i < image; ++i) ASSERT_NEAR(y[n * image + i], want[i], 1e-4) << n << ":" << i;
    for (int k = 0; k < c; ++k) {
      double mean = 0;
      for (int i = 0; i < plane; ++i) mean += res[k * plane + i] / plane;
      ASSERT_NEAR(pooled[n * c + k], mean, 1e-5) << n << ":" << k;
    }
  }
}

// A graph whose batch dimension is dynamic: Conv 3x3 -> Add(x) -> Relu. The residual Add can only
// become the convolution's sum post-op where shapes are known, so the CPU device optimises the
// graph for the input shapes it is compiled for (or, when given none, those of its first
// inference) and runs any other shapes on a graph optimised for all shapes. Values are the
// formula's on every path; placement says which graph ran last.
TEST(Passes, CpuGraphsWithDynamicBatchAreOptimisedForTheShapesTheyRun) {
  const int c = 16, h = 3, wd = 5, plane = h * wd, image = c * plane;
  std::vector<float> w3(c * c * 9);
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.05f * std::cos(0.17f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x",
                      PortInfo::Kind::tensor,
                      ElementType::f32,
                      true,
                      {{-1, "batch"}, {c, ""}, {h, ""}, {wd, ""}}});
  g.constants["w3"] = f32({c, c, 3, 3}, w3);
  with_ints(g.add_node("Conv", {"x", "w3"}, {"c1"}), "pads", {1, 1, 1, 1});
  g.add_node("Add", {"c1", "x"}, {"s"});
  g.add_node("Relu", {"s"}, {"y"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  auto check_run = [&](const device::Executable& exe, int batch) {
    std::vector<float> xs(batch * image);
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.31f * i + batch);
    std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
    exe.run(values);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.shape(), (Shape{batch, c, h, wd}));
    for (int n = 0; n < batch; ++n) {
      const std::vector<float> xn(xs.begin() + n * image, xs.begin() + (n + 1) * image);
      const auto conv = conv3x3(xn, w3, c, h, wd);
      for (int i = 0; i < image; ++i)
        ASSERT_NEAR(y.data_as<float>()[n * image + i], std::max(conv[i] + xn[i], 0.f), 1e-5)
            << "batch " << batch << ", " << n << ":" << i;
    }
  };
  const auto graph = std::make_shared<ir::Graph>(g);
  const std::string fused = "oneDNN convolution + sum + relu", generic = "oneDNN convolution";
  // No shapes at compile: the generic graph until the first inference, then that one's shapes.
  const auto lazy = cpu::make_cpu_device()->compile(graph, {});
  EXPECT_EQ(kernel_free(lazy->placement().node_implementation[0]), generic);
  check_run(*lazy, 2);
  EXPECT_EQ(kernel_free(lazy->placement().node_implementation[0]), fused);
  EXPECT_EQ(kernel_free(lazy->placement().node_implementation[1]), "fused into Conv");
  check_run(*lazy, 3);  // other shapes: the generic graph
  EXPECT_EQ(kernel_free(lazy->placement().node_implementation[0]), generic);
  check_run(*lazy, 2);
  EXPECT_EQ(kernel_free(lazy->placement().node_implementation[0]), fused);
  // Shapes given at compile: optimised for them from the start.
  device::CompileOptions options;
  options.input_shapes = {{"x", {3, c, h, wd}}};
  const auto eager = cpu::make_cpu_device()->compile(graph, options);
  EXPECT_EQ(kernel_free(eager->placement().node_implementation[0]), fused);
  EXPECT_NE(eager->compile_notes().find("for input shapes [3,16,3,5]"), std::string::npos)
      << eager->compile_notes();
  check_run(*eager, 3);
  check_run(*eager, 1);
  EXPECT_EQ(kernel_free(eager->placement().node_implementation[0]), generic);
  // A first inference the model does not take (8 channels, the weights want 16) fails, naming
  // the node; the next good one is still optimised for its shapes.
  const auto wrong_first = cpu::make_cpu_device()->compile(graph, {});
  std::map<std::string, Value> bad = {{"x", Tensor(ElementType::f32, {1, 8, h, wd})}};
  EXPECT_THROW(wrong_first->run(bad), Error);
  check_run(*wrong_first, 2);
  EXPECT_EQ(kernel_free(wrong_first->placement().node_implementation[0]), fused);
}

// What exporters compute from constants alone folds into constants before the fusions: Constant
// nodes (LayerNorm's 2 and epsilon), a Transpose of constant weights, and the Reshape target
// built from Shape(x) -> Gather -> Unsqueeze -> Concat. The written-out LayerNorm then fuses.
// Not folded: an Expand that would make a 4 MB constant of a 4-byte one, and a node reading a
// graph input that has a default (the caller's value is used). Values are the formula's.
TEST(Passes, CpuConstantSubgraphsFoldBeforeTheFusions) {
  const int b = 2, s = 4, d = 8;
  std::vector<float> xs(b * s * d), ws(d * d), defaults(d, 100.f), given(d);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i) + 0.1f * i;
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.3f * std::cos(0.21f * i);
  for (int i = 0; i < d; ++i) given[i] = 0.5f * i;
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {b, s, d});
  add_f32_input(g, "offset", {d});
  g.constants["offset"] = f32({d}, defaults);  // a default the caller replaces
  g.constants["w"] = f32({d, d}, ws);
  g.constants["one"] = f32({1}, {1.f});
  auto ints = [&](const char* name, Shape shape, std::vector<int64_t> v) {
    Tensor t(ElementType::i64, std::move(shape));
    std::copy(v.begin(), v.end(), t.data_as<int64_t>());
    g.constants[name] = t;
  };
  ints("index0", {}, {0});
  ints("axis0", {1}, {0});
  ints("rest", {3}, {s, 2, d / 2});
  ints("big", {2}, {1000, 1000});
  ir::Node& two = g.add_node("Constant", {}, {"two"});  // node 0
  two.attributes["value_float"].kind = ir::Attribute::Kind::f;
  two.attributes["value_float"].f = 2.f;
  ir::Node& eps = g.add_node("Constant", {}, {"eps"});  // node 1
  eps.attributes["value"].kind = ir::Attribute::Kind::t;
  eps.attributes["value"].t = f32({}, {1e-5f});
  auto mean_last = [&](const std::string& in, const std::string& out) {
    ir::Node& n = with_ints(g.add_node("ReduceMean", {in}, {out}), "axes", {-1});
    n.attributes["keepdims"].kind = ir::Attribute::Kind::i;
    n.attributes["keepdims"].i = 1;
  };
  mean_last("x", "mu");  // node 2
  g.add_node("Sub", {"x", "mu"}, {"dev"});
  g.add_node("Pow", {"dev", "two"}, {"sq"});
  mean_last("sq", "var");
  g.add_node("Add", {"var", "eps"}, {"ve"});
  g.add_node("Sqrt", {"ve"}, {"sd"});
  g.add_node("Div", {"dev", "sd"}, {"ln"});                                 // node 8
  with_ints(g.add_node("Transpose", {"w"}, {"wt"}), "perm", {1, 0});        // node 9
  g.add_node("MatMul", {"ln", "wt"}, {"mm"});                               // node 10
  g.add_node("Shape", {"x"}, {"sx"});                                       // node 11
  g.add_node("Gather", {"sx", "index0"}, {"batch"});                        // node 12
  g.add_node("Unsqueeze", {"batch", "axis0"}, {"batch1"});                  // node 13
  ir::Node& concat = g.add_node("Concat", {"batch1", "rest"}, {"target"});  // node 14
  concat.attributes["axis"].kind = ir::Attribute::Kind::i;
  concat.attributes["axis"].i = 0;
  g.add_node("Reshape", {"mm", "target"}, {"y"});                  // node 15
  g.add_node("Expand", {"one", "big"}, {"ones"});                  // node 16
  ir::Node& total = g.add_node("ReduceSum", {"ones"}, {"count"});  // node 17
  total.attributes["keepdims"].kind = ir::Attribute::Kind::i;
  total.attributes["keepdims"].i = 0;
  g.add_node("Add", {"offset", "one"}, {"shifted"});  // node 18
  for (const char* out : {"y", "count", "shifted"})
    g.outputs.push_back({out, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  for (std::size_t i : {0, 1, 9, 11, 12, 13, 14})
    EXPECT_EQ(kernel_free(placement.node_implementation[i]), "removed by graph optimisation") << i;
  EXPECT_EQ(kernel_free(placement.node_implementation[2]), "oneDNN layer norm (f32) / C++ kernel");
  EXPECT_EQ(kernel_free(placement.node_implementation[4]), "fused into LayerNormalization");
  EXPECT_EQ(kernel_free(placement.node_implementation[16]), "C++ kernel");  // Expand stays a node
  EXPECT_NE(kernel_free(placement.node_implementation[18]), "removed by graph optimisation");
  EXPECT_NE(exe->compile_notes().find("nodes folded into constants"), std::string::npos);
  std::map<std::string, Value> values = {{"x", f32({b, s, d}, xs)}, {"offset", f32({d}, given)}};
  exe->run(values);
  const Tensor& y = values.at("y").tensor();
  ASSERT_EQ(y.shape(), (Shape{b, s, 2, d / 2}));
  for (int row = 0; row < b * s; ++row) {
    double mean = 0, var = 0;
    for (int k = 0; k < d; ++k) mean += xs[row * d + k] / d;
    for (int k = 0; k < d; ++k) var += (xs[row * d + k] - mean) * (xs[row * d + k] - mean) / d;
    for (int j = 0; j < d; ++j) {
      double want = 0;  // (ln @ w^T)[row][j]
      for (int k = 0; k < d; ++k)
        want += (xs[row * d + k] - mean) / std::sqrt(var + 1e-5) * ws[j * d + k];
      EXPECT_NEAR(y.data_as<float>()[row * d + j], want, 1e-4) << row << "," << j;
    }
  }
  EXPECT_FLOAT_EQ(values.at("count").tensor().data_as<float>()[0], 1e6f);
  for (int i = 0; i < d; ++i)
    EXPECT_FLOAT_EQ(values.at("shifted").tensor().data_as<float>()[i], given[i] + 1.f) << i;
}

// PyTorch's hardswish before opset 14, Mul(x, HardSigmoid(x; 1/6, 0.5)), after a Conv becomes
// the convolution's hard_swish post-op; a HardSigmoid with other parameters stays as written.
// Values are the formula's: x * clamp(x / 6 + 0.5, 0, 1) and x * clamp(0.2 x + 0.5, 0, 1).
TEST(Passes, CpuHardSwishAsHardSigmoidTimesXFusesIntoTheConv) {
  const int c = 16, h = 3, wd = 5, image = c * h * wd;
  std::vector<float> xs(image), w3(c * c * 9);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = 2.f * std::sin(0.31f * i);
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.2f * std::cos(0.17f * i);
  ir::Graph g;
  g.opsets[""] = 13;
  add_f32_input(g, "x", {1, c, h, wd});
  g.constants["w3"] = f32({c, c, 3, 3}, w3);
  with_ints(g.add_node("Conv", {"x", "w3"}, {"c1"}), "pads", {1, 1, 1, 1});
  ir::Node& gate = g.add_node("HardSigmoid", {"c1"}, {"gate"});
  gate.attributes["alpha"].kind = gate.attributes["beta"].kind = ir::Attribute::Kind::f;
  gate.attributes["alpha"].f = 1.f / 6.f;
  gate.attributes["beta"].f = 0.5f;
  g.add_node("Mul", {"c1", "gate"}, {"y"});
  with_ints(g.add_node("Conv", {"x", "w3"}, {"c2"}), "pads", {1, 1, 1, 1});
  g.add_node("HardSigmoid", {"c2"}, {"gate2"});  // default alpha 0.2: not hardswish
  g.add_node("Mul", {"gate2", "c2"}, {"z"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"z", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]), "oneDNN convolution + hard_swish");
  EXPECT_EQ(kernel_free(placement.node_implementation[1]), "fused into Conv");
  EXPECT_EQ(kernel_free(placement.node_implementation[2]), "fused into Conv");
  EXPECT_NE(kernel_free(placement.node_implementation[5]), "fused into Conv");
  std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)}};
  exe->run(values);
  const auto conv = conv3x3(xs, w3, c, h, wd);
  for (int i = 0; i < image; ++i) {
    const double v = conv[i];
    EXPECT_NEAR(values.at("y").tensor().data_as<float>()[i], v * std::clamp(v / 6 + 0.5, 0.0, 1.0),
                1e-5)
        << i;
    EXPECT_NEAR(values.at("z").tensor().data_as<float>()[i],
                v * std::clamp(0.2 * v + 0.5, 0.0, 1.0), 1e-5)
        << i;
  }
}

// A U-Net / YOLO neck on a batch of two: two convolutions concatenated along the channels, a
// nearest 2x upsampling as PyTorch exports it, and a convolution. Where the convolutions
// compute channels-last the Concat (oneDNN concat) and the Resize (whole-pixel copies) work in
// that layout, so nothing is reordered; values are the formula's.
TEST(Passes, CpuConcatAndNearestUpsamplingKeepTheConvLayoutAndMatchTheFormula) {
  const int c = 16, h = 3, wd = 4, batch = 2, plane = h * wd, image = c * plane;
  std::vector<float> xs(batch * image), w1(c * c), w2(c * c), w3(c * 2 * c);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.2f * std::cos(0.13f * i);
  for (std::size_t i = 0; i < w2.size(); ++i) w2[i] = 0.2f * std::sin(0.11f * i);
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.1f * std::cos(0.07f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  g.constants["w2"] = f32({c, c, 1, 1}, w2);
  g.constants["w3"] = f32({c, 2 * c, 1, 1}, w3);
  g.constants["scales"] = f32({4}, {1.f, 1.f, 2.f, 2.f});
  g.add_node("Conv", {"x", "w1"}, {"a"});
  g.add_node("Conv", {"x", "w2"}, {"b"});
  ir::Node& cat = g.add_node("Concat", {"a", "b"}, {"cat"});  // node 2
  cat.attributes["axis"].kind = ir::Attribute::Kind::i;
  cat.attributes["axis"].i = 1;
  ir::Node& up = g.add_node("Resize", {"cat", "", "scales"}, {"up"});  // node 3
  for (auto [name, value] :
       {std::pair{"mode", "nearest"}, std::pair{"coordinate_transformation_mode", "asymmetric"},
        std::pair{"nearest_mode", "floor"}}) {
    up.attributes[name].kind = ir::Attribute::Kind::s;
    up.attributes[name].s = value;
  }
  g.add_node("Conv", {"up", "w3"}, {"y"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  if (cpu::onednn::preferred_conv_layout() == cpu::onednn::kChannelsLast) {
    const auto placement = exe->placement();
    EXPECT_EQ(kernel_free(placement.node_implementation[2]),
              "oneDNN concat in the convolutions' channels-last layout");
    EXPECT_EQ(kernel_free(placement.node_implementation[3]),
              "C++ kernel on the convolutions' channels-last layout");
  }
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
  exe->run(values);
  const Tensor& y = values.at("y").tensor();
  const int oh = 2 * h, ow = 2 * wd;
  ASSERT_EQ(y.shape(), (Shape{batch, c, oh, ow}));
  for (int n = 0; n < batch; ++n) {
    const std::vector<double> xn(xs.begin() + n * image, xs.begin() + (n + 1) * image);
    const auto a = conv1x1(xn, w1, c, plane), b = conv1x1(xn, w2, c, plane);
    for (int o = 0; o < c; ++o)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          const int p = (i / 2) * wd + j / 2;  // the nearest input pixel, floor(out / 2)
          double want = 0;
          for (int k = 0; k < c; ++k)
            want += w3[o * 2 * c + k] * a[k * plane + p] + w3[o * 2 * c + c + k] * b[k * plane + p];
          ASSERT_NEAR(y.data_as<float>()[((n * c + o) * oh + i) * ow + j], want, 1e-5)
              << n << "," << o << "," << i << "," << j;
        }
  }
}

// YOLOv8's C2f block on a batch of two: a convolution split in two halves along the channels,
// a convolution on the second half, and all three concatenated into a last convolution; one
// half is also read by a node that takes only plain NCHW (Sigmoid, a graph output). The Split
// works in the convolutions' layout (no reorder of the whole value to NCHW and back), the
// Sigmoid reads a plain copy; values are the formula's.
TEST(Passes, CpuSplitOverChannelsKeepsTheConvLayoutAndMatchesTheFormula) {
  const int c = 32, half = c / 2, h = 3, wd = 5, batch = 2, plane = h * wd;
  std::vector<float> xs(batch * c * plane), w1(c * c), w2(half * half), w3(half * 3 * half);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i);
  for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.2f * std::cos(0.13f * i);
  for (std::size_t i = 0; i < w2.size(); ++i) w2[i] = 0.2f * std::sin(0.11f * i);
  for (std::size_t i = 0; i < w3.size(); ++i) w3[i] = 0.1f * std::cos(0.07f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {batch, c, h, wd});
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  g.constants["w2"] = f32({half, half, 1, 1}, w2);
  g.constants["w3"] = f32({half, 3 * half, 1, 1}, w3);
  Tensor sizes(ElementType::i64, {2});
  sizes.data_as<int64_t>()[0] = sizes.data_as<int64_t>()[1] = half;
  g.constants["sizes"] = sizes;
  g.add_node("Conv", {"x", "w1"}, {"m"});
  ir::Node& split = g.add_node("Split", {"m", "sizes"}, {"a", "b"});  // node 1
  split.attributes["axis"].kind = ir::Attribute::Kind::i;
  split.attributes["axis"].i = 1;
  g.add_node("Conv", {"b", "w2"}, {"bb"});
  ir::Node& cat = g.add_node("Concat", {"a", "b", "bb"}, {"cat"});
  cat.attributes["axis"].kind = ir::Attribute::Kind::i;
  cat.attributes["axis"].i = 1;
  g.add_node("Conv", {"cat", "w3"}, {"y"});
  g.add_node("Sigmoid", {"b"}, {"sb"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"sb", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  if (cpu::onednn::preferred_conv_layout() == cpu::onednn::kChannelsLast) {
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[1]),
              "oneDNN reorders in the convolutions' channels-last layout");
  }
  std::map<std::string, Value> values = {{"x", f32({batch, c, h, wd}, xs)}};
  exe->run(values);
  const Tensor& y = values.at("y").tensor();
  const Tensor& sb = values.at("sb").tensor();
  ASSERT_EQ(y.shape(), (Shape{batch, half, h, wd}));
  ASSERT_EQ(sb.shape(), (Shape{batch, half, h, wd}));
  for (int n = 0; n < batch; ++n) {
    const std::vector<double> xn(xs.begin() + n * c * plane, xs.begin() + (n + 1) * c * plane);
    const auto m = conv1x1(xn, w1, c, plane);
    const std::vector<double> b(m.begin() + half * plane, m.end());
    const auto bb = conv1x1(b, w2, half, plane);
    for (int o = 0; o < half; ++o)
      for (int p = 0; p < plane; ++p) {
        double want = 0;
        for (int k = 0; k < half; ++k)
          want += w3[o * 3 * half + k] * m[k * plane + p] +
                  w3[o * 3 * half + half + k] * b[k * plane + p] +
                  w3[o * 3 * half + 2 * half + k] * bb[k * plane + p];
        ASSERT_NEAR(y.data_as<float>()[(n * half + o) * plane + p], want, 1e-5) << n << "," << o;
        ASSERT_NEAR(sb.data_as<float>()[(n * half + o) * plane + p],
                    1 / (1 + std::exp(-b[o * plane + p])), 1e-6)
            << n << "," << o;
      }
  }
}

// Wide 3x3 stride-1 convolutions compute with Winograd's minimal filtering where this CPU has
// oneDNN's AVX-512 kernels, and say so; strided ones, and any computing in bf16, stay direct.
// Both give the convolution's sum (the direct loop here, in double).
TEST(Passes, CpuWinogradComputesWideThreeByThreeConvolutionsAndMatchesTheFormula) {
  const int c = 64, h = 24, wd = 24;  // 576 output pixels: either of oneDNN's tile sizes
  std::vector<float> xs(c * h * wd), ws(c * c * 9);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.05f * std::cos(0.11f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {1, c, h, wd});
  g.constants["w"] = f32({c, c, 3, 3}, ws);
  with_ints(g.add_node("Conv", {"x", "w"}, {"c1"}), "pads", {1, 1, 1, 1});
  g.add_node("Relu", {"c1"}, {"y1"});
  ir::Node& strided = g.add_node("Conv", {"x", "w"}, {"y2"});
  with_ints(strided, "pads", {1, 1, 1, 1});
  with_ints(strided, "strides", {2, 2});
  g.outputs.push_back({"y1", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"y2", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);

  const bool avx512 = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]),
            avx512 ? "oneDNN Winograd convolution + relu" : "oneDNN convolution + relu");
  EXPECT_EQ(kernel_free(placement.node_implementation[2]), "oneDNN convolution");
  std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)}};
  exe->run(values);
  exe->run(values);  // the second run uses the prepared primitives

  const auto full = conv3x3(xs, ws, c, h, wd);
  const float* y1 = values.at("y1").tensor().data_as<float>();
  const float* y2 = values.at("y2").tensor().data_as<float>();
  ASSERT_EQ(values.at("y2").tensor().shape(), (Shape{1, c, h / 2, wd / 2}));
  for (int m = 0; m < c; ++m)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < wd; ++j) {
        const float expected = full[(m * h + i) * wd + j];
        EXPECT_NEAR(y1[(m * h + i) * wd + j], std::max(expected, 0.f), 1e-4) << m << "," << i;
        if (i % 2 == 0 && j % 2 == 0) {  // stride 2 with pads 1 samples the same sums
          EXPECT_NEAR(y2[(m * h / 2 + i / 2) * wd / 2 + j / 2], expected, 1e-4) << m << "," << i;
        }
      }

  const auto device = cpu::make_cpu_device();
  const auto caps = device->info().capabilities;
  if (std::find(caps.begin(), caps.end(), "BF16") == caps.end())
    return;  // bf16 compiles are refused on this CPU: nothing more to check
  device::CompileOptions bf16;
  bf16.precision = "bf16";
  const auto bf16_exe = device->compile(std::make_shared<ir::Graph>(g), bf16);
  EXPECT_EQ(kernel_free(bf16_exe->placement().node_implementation[0]), "oneDNN convolution + relu");
}

// The same for shapes whose tiles do not divide the image: two samples, a width not a multiple
// of the tile, no padding, and padding on one side only (pads begin 0, end 2: oneDNN 2.6 has no
// Winograd kernel for that, so the marking leaves it direct); each against the sum written out
// here.
TEST(Passes, CpuWinogradConvolutionsOfUnevenShapesMatchTheFormula) {
  const int64_t n = 2, c = 64, h = 26, wd = 31;
  std::vector<float> xs(n * c * h * wd), ws(c * c * 9);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.29f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.05f * std::cos(0.13f * i);
  for (const std::vector<int64_t>& pads :
       {std::vector<int64_t>{1, 1, 1, 1}, {0, 0, 0, 0}, {0, 0, 2, 2}}) {
    ir::Graph g;
    g.opsets[""] = 17;
    add_f32_input(g, "x", {n, c, h, wd});
    g.constants["w"] = f32({c, c, 3, 3}, ws);
    with_ints(g.add_node("Conv", {"x", "w"}, {"y"}), "pads", pads);
    g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    SCOPED_TRACE(kernel_free(exe->placement().node_implementation[0]));
    std::map<std::string, Value> values = {{"x", f32({n, c, h, wd}, xs)}};
    exe->run(values);
    const int64_t oh = h + pads[0] + pads[2] - 2, ow = wd + pads[1] + pads[3] - 2;
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.shape(), (Shape{n, c, oh, ow}));
    const float* out = y.data_as<float>();
    for (int64_t s = 0; s < n; ++s)
      for (int64_t m = 0; m < c; m += 7)  // every 7th channel keeps the double loop short
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j) {
            double acc = 0;
            for (int64_t k = 0; k < c; ++k)
              for (int64_t di = 0; di < 3; ++di)
                for (int64_t dj = 0; dj < 3; ++dj) {
                  const int64_t ii = i + di - pads[0], jj = j + dj - pads[1];
                  if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
                  acc += double(xs[((s * c + k) * h + ii) * wd + jj]) *
                         ws[((m * c + k) * 3 + di) * 3 + dj];
                }
            ASSERT_NEAR(out[((s * c + m) * oh + i) * ow + j], acc, 1e-4)
                << "pads " << pads[0] << "," << pads[2] << " at " << s << "," << m << "," << i
                << "," << j;
          }
  }
}

// Large images compute with Winograd in bands of rows (conv_row_bands.hpp), which bounds the
// transformed tiles' scratch: 128 channels at 512x512 (an SD VAE decoder's last layers) is
// Winograd like the same layer at 32x32 (placement only: nothing runs), where the whole image
// would have needed about 640 MB of scratch with the 4x3 tiles oneDNN picks on a Zen 5.
TEST(Passes, CpuWinogradComputesLargeImagesInBandsOfRows) {
  if (dnnl::get_effective_cpu_isa() < dnnl::cpu_isa::avx512_core)
    GTEST_SKIP() << "oneDNN has no Winograd kernels for this CPU";
  const int64_t c = 128, large = 512;
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "small", {1, c, 32, 32});
  add_f32_input(g, "large", {1, c, large, large});
  g.constants["w"] = f32({c, c, 3, 3}, std::vector<float>(c * c * 9, 0.01f));
  with_ints(g.add_node("Conv", {"small", "w"}, {"y_small"}), "pads", {1, 1, 1, 1});
  with_ints(g.add_node("Conv", {"large", "w"}, {"y_large"}), "pads", {1, 1, 1, 1});
  g.outputs.push_back({"y_small", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"y_large", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]), "oneDNN Winograd convolution");
  EXPECT_EQ(kernel_free(placement.node_implementation[1]), "oneDNN Winograd convolution");
}

// With --precision bf16, a convolution over 4096 output pixels or more that Winograd pays for
// stays f32 with Winograd (faster than the bf16 direct kernel where the CPU has no AMX:
// winograd_beats_bf16), and so keeps f32's accuracy: within 1e-4 of the sum, where bf16 inputs
// would be off by about 1e-2.
TEST(Passes, CpuBf16KeepsLargeWinogradConvolutionsInF32) {
  const auto device = cpu::make_cpu_device();
  const auto caps = device->info().capabilities;
  if (std::find(caps.begin(), caps.end(), "BF16") == caps.end())
    GTEST_SKIP() << "no bf16 compiles on this CPU";
  const int64_t c = 64, h = 64, wd = 64;
  std::vector<float> xs(c * h * wd), ws(c * c * 9);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.05f * std::cos(0.11f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  add_f32_input(g, "x", {1, c, h, wd});
  g.constants["w"] = f32({c, c, 3, 3}, ws);
  with_ints(g.add_node("Conv", {"x", "w"}, {"y"}), "pads", {1, 1, 1, 1});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  device::CompileOptions bf16;
  bf16.precision = "bf16";
  const auto exe = device->compile(std::make_shared<ir::Graph>(g), bf16);
  const bool amx = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core_amx;
  const std::string kernel = kernel_free(exe->placement().node_implementation[0]);
  ASSERT_EQ(kernel, amx ? "oneDNN convolution" : "oneDNN Winograd convolution");
  if (amx) return;  // bf16 there: the accuracy below is f32's
  std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)}};
  exe->run(values);
  const auto full = conv3x3(xs, ws, c, h, wd);
  const float* y = values.at("y").tensor().data_as<float>();
  for (std::size_t i = 0; i < full.size(); ++i) ASSERT_NEAR(y[i], full[i], 1e-4) << i;
}

// Bands of rows give the convolution's sum: an image of 70 rows of 128 columns is three bands
// (32, 32 and a shorter 6 rows: the first padded above, the last below), with and without
// padding, two samples, and a residual added in the convolution (the sum post-op, written into
// the residual's own memory where it dies there: each band reads its residual rows before it
// writes them). Against the sum written out here, every 7th channel.
TEST(Passes, CpuWinogradBandsOfRowsMatchTheFormula) {
  if (dnnl::get_effective_cpu_isa() < dnnl::cpu_isa::avx512_core)
    GTEST_SKIP() << "oneDNN has no Winograd kernels for this CPU";
  const int64_t n = 2, c = 64, h = 70, wd = 128;
  std::vector<float> xs(n * c * h * wd), rs(n * c * h * wd), ws(c * c * 9);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.29f * i);
  for (std::size_t i = 0; i < rs.size(); ++i) rs[i] = std::cos(0.07f * i);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.05f * std::cos(0.13f * i);
  for (const int64_t pad : {1, 0}) {
    ir::Graph g;
    g.opsets[""] = 17;
    const int64_t oh = h + 2 * pad - 2, ow = wd + 2 * pad - 2;
    add_f32_input(g, "x", {n, c, h, wd});
    add_f32_input(g, "r", {n, c, oh, ow});
    g.constants["w"] = f32({c, c, 3, 3}, ws);
    with_ints(g.add_node("Conv", {"x", "w"}, {"conv"}), "pads", {pad, pad, pad, pad});
    g.add_node("Neg", {"r"}, {"negated"});  // a value that dies at the sum
    g.add_node("Add", {"conv", "negated"}, {"y"});
    g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    const std::string kernel = kernel_free(exe->placement().node_implementation[0]);
    EXPECT_EQ(kernel, "oneDNN Winograd convolution + sum");
    std::vector<float> residual(rs.begin(), rs.begin() + n * c * oh * ow);
    std::map<std::string, Value> values = {{"x", f32({n, c, h, wd}, xs)},
                                           {"r", f32({n, c, oh, ow}, residual)}};
    exe->run(values);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.shape(), (Shape{n, c, oh, ow}));
    const float* out = y.data_as<float>();
    for (int64_t s = 0; s < n; ++s)
      for (int64_t m = 0; m < c; m += 7)
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j) {
            double acc = -residual[((s * c + m) * oh + i) * ow + j];
            for (int64_t k = 0; k < c; ++k)
              for (int64_t di = 0; di < 3; ++di)
                for (int64_t dj = 0; dj < 3; ++dj) {
                  const int64_t ii = i + di - pad, jj = j + dj - pad;
                  if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
                  acc += double(xs[((s * c + k) * h + ii) * wd + jj]) *
                         ws[((m * c + k) * 3 + di) * 3 + dj];
                }
            ASSERT_NEAR(out[((s * c + m) * oh + i) * ow + j], acc, 1e-4)
                << kernel << ", pads " << pad << " at " << s << "," << m << "," << i << "," << j;
          }
  }
}

namespace {

// w rounded as the weights setting keeps it: IEEE half, or int8 codes round(w / s) times s with
// s = max |w| / 127 over each output channel (`channel_of(i)` says which channel element i is).
template <typename ChannelOf>
std::vector<double> kept_weights(const std::vector<float>& w, const std::string& storage,
                                 int64_t channels, ChannelOf channel_of) {
  std::vector<double> out(w.size());
  if (storage == "f16") {
    for (std::size_t i = 0; i < w.size(); ++i)
      out[i] = half_bits_to_float(float_to_half_bits(w[i]));
    return out;
  }
  std::vector<double> scale(channels, 0.0);
  for (std::size_t i = 0; i < w.size(); ++i)
    scale[channel_of(i)] = std::max(scale[channel_of(i)], double(std::fabs(w[i])) / 127.0);
  for (std::size_t i = 0; i < w.size(); ++i)
    out[i] = std::nearbyint(w[i] / scale[channel_of(i)]) * scale[channel_of(i)];
  return out;
}

}  // namespace

// The weights setting: a convolution's and a matrix product's packed weights kept as f16 or int8
// give what the layer gives with its weights rounded by the definition (computed here in
// double), on the first run and on the next (which widens the kept copy again), at two image
// sizes (which share one kept copy); and the rounding shows (the result is not the f32 one).
TEST(Passes, CpuWeightStorageGivesTheLayerWithRoundedWeights) {
  const int64_t c = 24, m = 40, rows = 5;
  std::vector<float> ws(m * c * 9), wm(c * m), bias(m);
  for (std::size_t i = 0; i < ws.size(); ++i)  // channels of different ranges
    ws[i] = 0.3f * std::sin(0.37f * i) * (1 + int64_t(i) / (c * 9) % 5);
  for (std::size_t i = 0; i < wm.size(); ++i) wm[i] = 0.5f * std::cos(0.23f * i) * (1 + i % m % 3);
  for (int64_t o = 0; o < m; ++o) bias[o] = 0.01f * o;
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x",
                      PortInfo::Kind::tensor,
                      ElementType::f32,
                      true,
                      {{1, ""}, {c, ""}, {-1, "h"}, {-1, "w"}}});
  add_f32_input(g, "a", {rows, c});
  g.constants["w"] = f32({m, c, 3, 3}, ws);
  g.constants["b"] = f32({m}, bias);
  g.constants["wm"] = f32({c, m}, wm);
  with_ints(g.add_node("Conv", {"x", "w", "b"}, {"y"}), "pads", {1, 1, 1, 1});
  g.add_node("MatMul", {"a", "wm"}, {"z"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"z", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  std::vector<float> as(rows * c);
  for (std::size_t i = 0; i < as.size(); ++i) as[i] = std::sin(0.71f * i);
  for (const std::string storage : {"f16", "int8"}) {
    SCOPED_TRACE(storage);
    device::CompileOptions options;
    options.weights = storage;
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), options);
    EXPECT_NE(exe->precision().find("kept as " + storage), std::string::npos) << exe->precision();
    const std::vector<double> kw =
        kept_weights(ws, storage, m, [&](std::size_t i) { return int64_t(i) / (c * 9); });
    const std::vector<double> km =
        kept_weights(wm, storage, m, [&](std::size_t i) { return int64_t(i) % m; });
    for (const auto& [h, wd] : {std::pair<int64_t, int64_t>{7, 9}, {12, 5}, {7, 9}}) {
      std::vector<float> xs(c * h * wd);
      for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::cos(0.11f * i);
      std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)},
                                             {"a", f32({rows, c}, as)}};
      exe->run(values);
      const float* y = values.at("y").tensor().data_as<float>();
      double worst = 0, rounding_shows = 0;
      for (int64_t o = 0; o < m; ++o)
        for (int64_t i = 0; i < h; ++i)
          for (int64_t j = 0; j < wd; ++j) {
            double kept = bias[o], exact = bias[o];
            for (int64_t k = 0; k < c; ++k)
              for (int64_t di = 0; di < 3; ++di)
                for (int64_t dj = 0; dj < 3; ++dj) {
                  const int64_t ii = i + di - 1, jj = j + dj - 1;
                  if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
                  const std::size_t at = ((o * c + k) * 3 + di) * 3 + dj;
                  kept += xs[(k * h + ii) * wd + jj] * kw[at];
                  exact += xs[(k * h + ii) * wd + jj] * double(ws[at]);
                }
            const double got = y[(o * h + i) * wd + j];
            worst = std::max(worst, std::fabs(got - kept));
            rounding_shows = std::max(rounding_shows, std::fabs(got - exact));
          }
      EXPECT_LT(worst, 2e-4) << "convolution at " << h << "x" << wd;
      EXPECT_GT(rounding_shows, 1e-3) << "convolution at " << h << "x" << wd;
      const float* z = values.at("z").tensor().data_as<float>();
      worst = 0, rounding_shows = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < m; ++o) {
          double kept = 0, exact = 0;
          for (int64_t k = 0; k < c; ++k) {
            kept += as[r * c + k] * km[k * m + o];
            exact += as[r * c + k] * double(wm[k * m + o]);
          }
          worst = std::max(worst, std::fabs(z[r * m + o] - kept));
          rounding_shows = std::max(rounding_shows, std::fabs(z[r * m + o] - exact));
        }
      EXPECT_LT(worst, 2e-4) << "matrix product";
      EXPECT_GT(rounding_shows, storage == "f16" ? 1e-5 : 1e-3) << "matrix product";
    }
  }
}
