// `sinter convert --compress int8` (passes/quantize_weights.hpp) and the CPU device running the
// stored codes (devices/cpu/int8_weights.hpp): the codes and scales follow their definition,
// computed here independently, and the CPU's results are the layers' results with the
// dequantized weights (code times scale), summed in double here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "devices/cpu/cpu_device.hpp"
#include "passes/quantize_weights.hpp"
#include "placement_text.hpp"

using namespace sinter;

namespace {

constexpr int64_t c = 32, m = 48, rows = 5;

Tensor f32(Shape shape, const std::vector<float>& values) {
  Tensor t(ElementType::f32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<float>());
  return t;
}

std::vector<float> wave(std::size_t n, float a, float f, int64_t period_scale) {
  std::vector<float> v(n);
  // Channels of different ranges (the factor changes every period_scale elements).
  for (std::size_t i = 0; i < n; ++i)
    v[i] = a * std::sin(f * float(i)) * float(1 + int64_t(i) / period_scale % 5);
  return v;
}

void add_input(ir::Graph& g, const std::string& name, std::vector<Dimension> shape) {
  g.inputs.push_back({name, PortInfo::Kind::tensor, ElementType::f32, true, std::move(shape)});
}

void output(ir::Graph& g, const std::string& name) {
  g.outputs.push_back({name, PortInfo::Kind::tensor, ElementType::f32, false, {}});
}

// Conv (then a per-channel Mul the CPU folds into it), MatMul, Gemm with transposed weights, the
// MatMul's weights again on an input of unknown rank (not fused), and weights something else
// reads too (left f32).
ir::Graph layers() {
  ir::Graph g;
  g.opsets[""] = 17;
  add_input(g, "x", {{1, ""}, {c, ""}, {-1, "h"}, {-1, "w"}});
  add_input(g, "a", {{rows, ""}, {c, ""}});
  g.inputs.push_back({"u", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.constants["w"] = f32({m, c, 3, 3}, wave(m * c * 9, 0.3f, 0.37f, c * 9));
  g.constants["b"] = f32({m}, wave(m, 0.1f, 0.5f, 1000));
  g.constants["s"] = f32({1, m, 1, 1}, wave(m, 2.0f, 0.9f, 1000));
  g.constants["wm"] = f32({c, m}, wave(c * m, 0.5f, 0.23f, 7));
  g.constants["wg"] = f32({m, c}, wave(m * c, 0.4f, 0.31f, c));
  g.constants["t"] = f32({c, m}, wave(c * m, 0.2f, 0.11f, 3));
  auto& conv = g.add_node("Conv", {"x", "w", "b"}, {"conv"});
  conv.attributes["pads"].kind = ir::Attribute::Kind::ints;
  conv.attributes["pads"].ints = {1, 1, 1, 1};
  g.add_node("Mul", {"conv", "s"}, {"y"});
  g.add_node("MatMul", {"a", "wm"}, {"z"});
  auto& gemm = g.add_node("Gemm", {"a", "wg"}, {"gm"});
  gemm.attributes["transB"].kind = ir::Attribute::Kind::i;
  gemm.attributes["transB"].i = 1;
  g.add_node("MatMul", {"u", "wm"}, {"v"});
  g.add_node("MatMul", {"a", "t"}, {"q"});
  g.add_node("Relu", {"t"}, {"r"});
  for (const char* name : {"y", "z", "gm", "v", "q", "r"}) output(g, name);
  ir::validate(g);
  return g;
}

// The DequantizeLinear that makes `name` in a quantized graph.
const ir::Node* dequantizer_of(const ir::Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.op_type == "DequantizeLinear" && n.outputs == std::vector<std::string>{name}) return &n;
  return nullptr;
}

// `name`'s weights as the quantized graph stores them, dequantized in double: codes times the
// scale of their channel along the DequantizeLinear's axis.
std::vector<double> dequantized(const ir::Graph& g, const std::string& name) {
  const ir::Node* dq = dequantizer_of(g, name);
  const Tensor& codes = g.constants.at(dq->inputs[0]);
  const Tensor& scales = g.constants.at(dq->inputs[1]);
  const int64_t axis = dq->attr_int("axis", 1);
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < codes.rank(); ++d) inner *= codes.shape()[d];
  std::vector<double> w(codes.element_count());
  for (int64_t i = 0; i < codes.element_count(); ++i)
    w[i] = double(codes.data_as<int8_t>()[i]) *
           scales.data_as<float>()[i / inner % codes.shape()[axis]];
  return w;
}

// Runs `exe` (made from the quantized layers()) and checks every output against the layers with
// the dequantized weights in double: within f32 rounding, or within bf16's (1% of the sum of the
// terms' magnitudes) where the layers compute in bf16.
void run_and_check(const device::Executable& exe, const ir::Graph& g,
                   const std::string& precision) {
  const std::vector<double> w = dequantized(g, "w"), wm = dequantized(g, "wm"),
                            wg = dequantized(g, "wg");
  const std::vector<float> b = wave(m, 0.1f, 0.5f, 1000), s = wave(m, 2.0f, 0.9f, 1000),
                           t = wave(c * m, 0.2f, 0.11f, 3);
  const std::vector<float> as = wave(rows * c, 1.0f, 0.71f, 1000);
  const double relative = precision == "bf16" ? 1e-2 : 0;
  EXPECT_NE(exe.precision().find("weights of 3 convolutions and matrix products kept as the "
                                 "model stores them, int8"),
            std::string::npos)
      << exe.precision();
  const auto implementations = kernel_free(exe.placement().node_implementation);
  std::map<std::string, std::string> implementation_of;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    implementation_of[g.nodes[i].op_type] = implementations[i];
  EXPECT_EQ(implementation_of["Conv"], "oneDNN convolution");
  EXPECT_EQ(implementation_of["Mul"], "fused into Conv");
  EXPECT_EQ(implementation_of["Gemm"], "oneDNN matmul");
  for (const auto& [h, wd] : {std::pair<int64_t, int64_t>{7, 9}, {12, 5}, {7, 9}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(wd));
    const std::vector<float> xs = wave(c * h * wd, 1.0f, 0.11f, 1000);
    std::map<std::string, Value> values = {
        {"x", f32({1, c, h, wd}, xs)}, {"a", f32({rows, c}, as)}, {"u", f32({rows, c}, as)}};
    exe.run(values);
    const float* y = values.at("y").tensor().data_as<float>();
    double worst = 0;
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < wd; ++j) {
          double acc = b[o], magnitude = 0;
          for (int64_t k = 0; k < c; ++k)
            for (int64_t di = 0; di < 3; ++di)
              for (int64_t dj = 0; dj < 3; ++dj) {
                const int64_t ii = i + di - 1, jj = j + dj - 1;
                if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
                const double term = xs[(k * h + ii) * wd + jj] * w[((o * c + k) * 3 + di) * 3 + dj];
                acc += term;
                magnitude += std::fabs(term);
              }
          const double error = std::fabs(y[(o * h + i) * wd + j] - acc * s[o]);
          worst = std::max(worst, error - relative * magnitude * std::fabs(s[o]));
        }
    EXPECT_LT(worst, 1e-3) << "convolution";
    // A [rows, c] times B, with B(k, o) the weight for input k and output o.
    auto check_product = [&](const char* name, auto weight) {
      const float* z = values.at(name).tensor().data_as<float>();
      double worst = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < m; ++o) {
          double acc = 0, magnitude = 0;
          for (int64_t k = 0; k < c; ++k) {
            acc += as[r * c + k] * weight(k, o);
            magnitude += std::fabs(as[r * c + k] * weight(k, o));
          }
          worst = std::max(worst, std::fabs(z[r * m + o] - acc) - relative * magnitude);
        }
      EXPECT_LT(worst, 1e-4) << name;
    };
    check_product("z", [&](int64_t k, int64_t o) { return wm[k * m + o]; });
    check_product("gm", [&](int64_t k, int64_t o) { return wg[o * c + k]; });
    check_product("v", [&](int64_t k, int64_t o) { return wm[k * m + o]; });
    check_product("q", [&](int64_t k, int64_t o) { return double(t[k * m + o]); });
    const float* r = values.at("r").tensor().data_as<float>();
    for (int64_t i = 0; i < c * m; ++i) ASSERT_EQ(r[i], std::max(t[i], 0.0f)) << i;
  }
}

}  // namespace

// Each eligible weight becomes int8 codes round(w / s) with s = max |w| / 127 over its output
// channel (Conv: axis 0; MatMul: axis 1; Gemm with transB: axis 0), behind a DequantizeLinear
// that makes the original name; a bias and weights another op reads stay f32.
TEST(Int8Weights, ConvertStoresCodesAndScalesByTheDefinition) {
  const ir::Graph original = layers();
  ir::Graph g = original;
  EXPECT_EQ(passes::quantize_weights_int8(g), 3);
  ir::validate(g);
  for (const auto& [name, axis] : {std::pair<std::string, int64_t>{"w", 0}, {"wm", 1}, {"wg", 0}}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(g.constants.count(name), 0u);
    const ir::Node* dq = dequantizer_of(g, name);
    ASSERT_NE(dq, nullptr);
    EXPECT_EQ(dq->attr_int("axis", -1), axis);
    const Tensor& w = original.constants.at(name);
    const Tensor& codes = g.constants.at(dq->inputs[0]);
    const Tensor& scales = g.constants.at(dq->inputs[1]);
    ASSERT_EQ(codes.element_type(), ElementType::i8);
    ASSERT_EQ(codes.shape(), w.shape());
    const int64_t channels = w.shape()[axis];
    ASSERT_EQ(scales.shape(), (Shape{channels}));
    int64_t inner = 1;
    for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.shape()[d];
    std::vector<double> largest(channels, 0.0);
    for (int64_t i = 0; i < w.element_count(); ++i)
      largest[i / inner % channels] =
          std::max(largest[i / inner % channels], std::fabs(double(w.data_as<float>()[i])));
    for (int64_t ch = 0; ch < channels; ++ch)
      EXPECT_NEAR(scales.data_as<float>()[ch], largest[ch] / 127.0, largest[ch] * 1e-7) << ch;
    for (int64_t i = 0; i < w.element_count(); ++i) {
      const double s = scales.data_as<float>()[i / inner % channels];
      ASSERT_EQ(codes.data_as<int8_t>()[i], std::nearbyint(w.data_as<float>()[i] / s)) << i;
    }
  }
  EXPECT_EQ(g.constants.at("b").element_type(), ElementType::f32);
  EXPECT_EQ(g.constants.at("t").element_type(), ElementType::f32);
  EXPECT_EQ(dequantizer_of(g, "t"), nullptr);
}

// The CPU runs the stored codes: each output is its layer's with the dequantized weights (and the
// f32 ones where they stayed f32), summed here in double; on the first run and the next, at two
// image sizes; the fused layers keep their weights int8 (the precision line says so) and run on
// oneDNN, the unfused MatMul on f32 weights made from the codes. In f32, and in bf16 where the
// CPU has it (the codes widened into bf16).
TEST(Int8Weights, CpuRunsStoredCodesAsTheLayerWithDequantizedWeights) {
  ir::Graph g = layers();
  ASSERT_EQ(passes::quantize_weights_int8(g), 3);
  const auto device = cpu::make_cpu_device();
  const auto caps = device->info().capabilities;
  const bool bf16 = std::find(caps.begin(), caps.end(), "BF16") != caps.end();
  for (const std::string precision : {"f32", "bf16"}) {
    if (precision == "bf16" && !bf16) continue;  // bf16 compiles are refused on this CPU
    SCOPED_TRACE(precision);
    device::CompileOptions options;
    options.precision = precision;
    run_and_check(*device->compile(std::make_shared<ir::Graph>(g), options), g, precision);
  }
}
