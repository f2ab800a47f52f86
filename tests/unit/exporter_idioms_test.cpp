// How exporters other than PyTorch write common layers, and what the CPU device makes of them:
// weights as Constant nodes, per-channel affine ops after a convolution (PaddlePaddle's
// "learnable affine blocks", BatchNormalization after a ConvTranspose), HardSwish spelled as
// x * Clip(x + 3, 0, 6) / 6, scalar scale-and-shift after an activation, ConvTranspose through
// sgemm + col2im. Each graph is checked for what it became (placement) and, run on the CPU
// device, against the formula computed here in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "base/half.hpp"
#include "devices/cpu/cpu_device.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "placement_text.hpp"

using namespace sinter;

namespace {

Tensor f32(Shape shape, std::vector<float> values) {
  Tensor t(ElementType::f32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<float>());
  return t;
}

Tensor scalar(float v) {
  return f32({1}, {v});
}

void add_f32_input(ir::Graph& g, const std::string& name, const std::vector<int64_t>& dims) {
  std::vector<Dimension> shape;
  for (int64_t d : dims) shape.push_back({d, ""});
  g.inputs.push_back({name, PortInfo::Kind::tensor, ElementType::f32, true, shape});
}

void add_output(ir::Graph& g, const std::string& name) {
  g.outputs.push_back({name, PortInfo::Kind::tensor, ElementType::f32, false, {}});
}

ir::Node& with_ints(ir::Node& n, const char* name, std::vector<int64_t> values) {
  n.attributes[name].kind = ir::Attribute::Kind::ints;
  n.attributes[name].ints = std::move(values);
  return n;
}

// A Constant node holding `t` (as PaddlePaddle and PyTorch's newer exporters store weights).
void constant_node(ir::Graph& g, const std::string& name, Tensor t) {
  ir::Node& n = g.add_node("Constant", {}, {name});
  n.attributes["value"].kind = ir::Attribute::Kind::t;
  n.attributes["value"].t = std::move(t);
}

std::vector<float> wave(std::size_t n, float scale, float step) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * std::sin(step * static_cast<float>(i) + 0.3f);
  return v;
}

// Direct 2-D convolution, batch 1, NCHW, the weights [m, c, k, k], stride 1, `pad` on all sides.
std::vector<double> conv2d(const std::vector<float>& x, const std::vector<float>& w, int c, int m,
                           int h, int wd, int k, int pad) {
  const int oh = h + 2 * pad - k + 1, ow = wd + 2 * pad - k + 1;
  std::vector<double> y(static_cast<std::size_t>(m * oh * ow), 0.0);
  for (int o = 0; o < m; ++o)
    for (int i = 0; i < oh; ++i)
      for (int j = 0; j < ow; ++j)
        for (int ch = 0; ch < c; ++ch)
          for (int di = 0; di < k; ++di)
            for (int dj = 0; dj < k; ++dj) {
              const int ii = i + di - pad, jj = j + dj - pad;
              if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
              y[(o * oh + i) * ow + j] +=
                  double(x[(ch * h + ii) * wd + jj]) * w[((o * c + ch) * k + di) * k + dj];
            }
  return y;
}

// ConvTranspose by its definition (every input pixel scatters through the kernel), batch n,
// weights [c, m / group, kh, kw], output [n, m, oh, ow].
std::vector<double> conv_transpose2d(const std::vector<float>& x, const std::vector<float>& w,
                                     const std::vector<float>& bias, int n, int c, int m, int h,
                                     int wd, int kh, int kw, int stride, int pad_top, int pad_left,
                                     int dilation, int group, int oh, int ow) {
  std::vector<double> y(static_cast<std::size_t>(n * m * oh * ow), 0.0);
  const int cg = c / group, mg = m / group;
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < m; ++o) {
      for (int p = 0; p < oh * ow; ++p) y[(b * m + o) * oh * ow + p] = bias.empty() ? 0 : bias[o];
      const int gi = o / mg, j = o % mg;
      for (int ch = gi * cg; ch < (gi + 1) * cg; ++ch)
        for (int i = 0; i < h; ++i)
          for (int q = 0; q < wd; ++q)
            for (int a = 0; a < kh; ++a)
              for (int e = 0; e < kw; ++e) {
                const int yi = i * stride - pad_top + a * dilation;
                const int yj = q * stride - pad_left + e * dilation;
                if (yi < 0 || yj < 0 || yi >= oh || yj >= ow) continue;
                y[((b * m + o) * oh + yi) * ow + yj] += double(x[((b * c + ch) * h + i) * wd + q]) *
                                                        w[((ch * mg + j) * kh + a) * kw + e];
              }
    }
  return y;
}

double hard_swish(double v) {
  return v * std::clamp(v + 3, 0.0, 6.0) / 6;
}

}  // namespace

// PaddlePaddle's PP-LCNet block: Conv -> Mul(scalar) -> Add(scalar) (a learnable affine) ->
// HardSwish as x * Clip(x + 3, 0, 6) / 6 -> Mul(scalar) -> Add(scalar), weights and every
// constant as Constant nodes. All of it becomes one convolution: the affine folded into weights
// and bias, HardSwish and the trailing scale-and-shift as post-ops (one linear post-op: two in a
// row are not computed right by oneDNN 2.6's kernels).
TEST(ExporterIdioms, PaddleAffineAndWrittenOutHardSwishFoldIntoTheConv) {
  const int c = 8, m = 16, h = 5, wd = 7;
  const std::vector<float> xs = wave(c * h * wd, 2.f, 0.37f), w = wave(m * c * 9, 0.3f, 0.11f);
  const std::vector<float> b = wave(m, 0.5f, 0.9f);
  ir::Graph g;
  g.opsets[""] = 13;
  add_f32_input(g, "x", {1, c, h, wd});
  constant_node(g, "w", f32({m, c, 3, 3}, w));
  constant_node(g, "b", f32({m}, b));
  for (const auto& [name, v] : std::map<std::string, float>{{"s", 1.7f},
                                                            {"t", -0.4f},
                                                            {"three", 3.f},
                                                            {"zero", 0.f},
                                                            {"six", 6.f},
                                                            {"u", 0.8f},
                                                            {"v", 0.25f}})
    constant_node(g, name, scalar(v));
  with_ints(g.add_node("Conv", {"x", "w", "b"}, {"conv"}), "pads", {1, 1, 1, 1});
  g.add_node("Mul", {"conv", "s"}, {"scaled"});
  g.add_node("Add", {"scaled", "t"}, {"a"});
  g.add_node("Add", {"a", "three"}, {"a3"});
  g.add_node("Clip", {"a3", "zero", "six"}, {"gate"});
  g.add_node("Mul", {"a", "gate"}, {"prod"});
  g.add_node("Div", {"prod", "six"}, {"hs"});
  g.add_node("Mul", {"u", "hs"}, {"hs_scaled"});  // the constant first, as Paddle writes it
  g.add_node("Add", {"hs_scaled", "v"}, {"y"});
  add_output(g, "y");
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  std::size_t conv_node = 0;
  while (g.nodes[conv_node].op_type != "Conv") ++conv_node;
  EXPECT_EQ(kernel_free(placement.node_implementation[conv_node]),
            "oneDNN convolution + hard_swish + linear");
  for (std::size_t i = conv_node + 1; i < g.nodes.size(); ++i)
    EXPECT_EQ(kernel_free(placement.node_implementation[i]), "fused into Conv")
        << g.nodes[i].op_type;
  std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)}};
  exe->run(values);
  const auto ref = conv2d(xs, w, c, m, h, wd, 3, 1);
  const float* y = values.at("y").tensor().data_as<float>();
  for (int o = 0; o < m; ++o)
    for (int p = 0; p < h * wd; ++p) {
      const double a = (ref[o * h * wd + p] + b[o]) * 1.7 - 0.4;
      EXPECT_NEAR(y[o * h * wd + p], 0.8 * hard_swish(a) + 0.25, 2e-5) << o << " " << p;
    }
}

// Per-channel Mul and Sub by [C, 1, 1] constants and a BatchNormalization after a Conv fold into
// it; a Div by a per-channel constant after an activation does not (it is no post-op) and stays.
TEST(ExporterIdioms, PerChannelAffineAfterAConvFoldsButNotAfterItsActivation) {
  const int c = 3, m = 4, h = 4, wd = 4;
  const std::vector<float> xs = wave(c * h * wd, 1.f, 0.7f), w = wave(m * c * 9, 0.4f, 0.23f);
  const std::vector<float> k = {0.5f, -1.5f, 2.f, 1.25f}, d = {0.1f, 0.2f, -0.3f, 0.4f};
  const std::vector<float> gamma = {1.1f, 0.9f, 1.3f, 0.7f}, beta = {0.f, 0.1f, -0.2f, 0.3f},
                           mean = {0.05f, -0.1f, 0.2f, 0.f}, var = {1.f, 0.5f, 2.f, 0.25f};
  ir::Graph g;
  g.opsets[""] = 13;
  add_f32_input(g, "x", {1, c, h, wd});
  g.constants["w"] = f32({m, c, 3, 3}, w);
  g.constants["k"] = f32({m, 1, 1}, k);
  g.constants["d"] = f32({1, m, 1, 1}, d);
  for (const auto& [name, v] : std::map<std::string, std::vector<float>>{
           {"gamma", gamma}, {"beta", beta}, {"mean", mean}, {"var", var}})
    g.constants[name] = f32({m}, v);
  with_ints(g.add_node("Conv", {"x", "w"}, {"conv"}), "pads", {1, 1, 1, 1});
  g.add_node("Mul", {"k", "conv"}, {"scaled"});
  g.add_node("Sub", {"scaled", "d"}, {"shifted"});
  g.add_node("BatchNormalization", {"shifted", "gamma", "beta", "mean", "var"}, {"bn"});
  g.add_node("Relu", {"bn"}, {"r"});
  g.add_node("Div", {"r", "k"}, {"y"});
  add_output(g, "y");
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]), "oneDNN convolution + relu");
  for (std::size_t i = 1; i < 5; ++i)
    EXPECT_EQ(kernel_free(placement.node_implementation[i]), "fused into Conv");
  EXPECT_NE(kernel_free(placement.node_implementation[5]), "fused into Conv");
  std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)}};
  exe->run(values);
  const auto ref = conv2d(xs, w, c, m, h, wd, 3, 1);
  const float* y = values.at("y").tensor().data_as<float>();
  for (int o = 0; o < m; ++o)
    for (int p = 0; p < h * wd; ++p) {
      const double v = ref[o * h * wd + p] * k[o] - d[o];
      const double bn = (v - mean[o]) / std::sqrt(double(var[o]) + 1e-5) * gamma[o] + beta[o];
      EXPECT_NEAR(y[o * h * wd + p], std::max(bn, 0.0) / k[o], 2e-5) << o << " " << p;
    }
}

// ConvTranspose with constant weights runs as one sgemm per sample and group plus col2im, with
// the bias Add, a BatchNormalization and the activation after it folded in, for the geometries
// exporters write: 2x2 stride 2 (upsampling, DBNet's head), 3x3 stride 2 with padding and
// output_padding, grouped and dilated, and 1-D; each against the definition.
TEST(ExporterIdioms, ConvTransposeGeometriesMatchTheDefinition) {
  struct Case {
    int n, c, m, h, wd, kh, kw, stride, pad, out_pad, dilation, group;
  };
  for (const Case& t :
       {Case{1, 6, 4, 5, 7, 2, 2, 2, 0, 0, 1, 1}, Case{2, 4, 6, 4, 5, 3, 3, 2, 1, 1, 1, 1},
        Case{1, 4, 6, 5, 5, 3, 3, 1, 1, 0, 2, 2}, Case{1, 3, 5, 1, 9, 1, 4, 3, 0, 2, 1, 1}}) {
    SCOPED_TRACE(::testing::Message() << "c " << t.c << " m " << t.m << " k " << t.kh << "x" << t.kw
                                      << " stride " << t.stride << " group " << t.group);
    const bool one_d = t.h == 1 && t.kh == 1;
    const std::vector<float> xs = wave(t.n * t.c * t.h * t.wd, 1.f, 0.29f);
    const std::vector<float> w = wave(t.c * (t.m / t.group) * t.kh * t.kw, 0.5f, 0.41f);
    const std::vector<float> bias = wave(t.m, 0.3f, 1.3f), gamma = wave(t.m, 0.5f, 0.7f);
    const auto out_size = [&](int in, int k) {
      return t.stride * (in - 1) + t.out_pad + (k - 1) * t.dilation + 1 - 2 * t.pad;
    };
    const int oh = one_d ? 1 : out_size(t.h, t.kh), ow = out_size(t.wd, t.kw);
    ir::Graph g;
    g.opsets[""] = 13;
    add_f32_input(
        g, "x",
        one_d ? std::vector<int64_t>{t.n, t.c, t.wd} : std::vector<int64_t>{t.n, t.c, t.h, t.wd});
    g.constants["w"] =
        one_d ? f32({t.c, t.m / t.group, t.kw}, w) : f32({t.c, t.m / t.group, t.kh, t.kw}, w);
    g.constants["b"] = one_d ? f32({t.m, 1}, bias) : f32({1, t.m, 1, 1}, bias);
    g.constants["gamma"] = f32({t.m}, gamma);
    g.constants["zeros"] = f32({t.m}, std::vector<float>(t.m, 0.f));
    g.constants["ones"] = f32({t.m}, std::vector<float>(t.m, 1.f));
    ir::Node& ct = g.add_node("ConvTranspose", {"x", "w"}, {"ct"});
    const auto per_axis = [&](int v) {
      return one_d ? std::vector<int64_t>{v} : std::vector<int64_t>{v, v};
    };
    with_ints(ct, "strides", per_axis(t.stride));
    with_ints(ct, "dilations", per_axis(t.dilation));
    with_ints(ct, "output_padding", per_axis(t.out_pad));
    std::vector<int64_t> pads = per_axis(t.pad);
    pads.insert(pads.end(), pads.begin(), pads.end());
    with_ints(ct, "pads", pads);
    ct.attributes["group"].kind = ir::Attribute::Kind::i;
    ct.attributes["group"].i = t.group;
    g.add_node("Add", {"ct", "b"}, {"biased"});
    g.add_node("BatchNormalization", {"biased", "gamma", "zeros", "zeros", "ones"}, {"bn"});
    g.add_node("Sigmoid", {"bn"}, {"y"});
    add_output(g, "y");
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[0]),
              "sgemm + col2im transposed convolution + sigmoid");
    std::map<std::string, Value> values = {
        {"x", one_d ? f32({t.n, t.c, t.wd}, xs) : f32({t.n, t.c, t.h, t.wd}, xs)}};
    exe->run(values);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.element_count(), int64_t{t.n} * t.m * oh * ow);
    const auto ref = conv_transpose2d(xs, w, bias, t.n, t.c, t.m, t.h, t.wd, t.kh, t.kw, t.stride,
                                      one_d ? 0 : t.pad, t.pad, t.dilation, t.group, oh, ow);
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const int o = static_cast<int>(i / (oh * ow)) % t.m;
      const double bn = ref[i] * gamma[o] / std::sqrt(1.0 + 1e-5);
      EXPECT_NEAR(y.data_as<float>()[i], 1 / (1 + std::exp(-bn)), 1e-5) << i;
    }
  }
}

// Depthwise convolutions, 1-D (oneDNN 2.6 has no depthwise kernel for those in plain layout and
// takes its gemm-based convolution: Silero VAD's 258 channels) and 2-D, odd channel counts,
// strides, dilations, asymmetric padding, a residual and an activation: no node is left on
// oneDNN's gemm-based convolution (the direct depthwise kernel takes those), and the results
// match the definition.
TEST(ExporterIdioms, OddDepthwiseConvolutionsMatchTheDefinition) {
  struct Case {
    int c, h, wd, k, stride, dilation, pad_begin, pad_end;
  };
  for (const Case& t : {Case{258, 1, 24, 5, 1, 1, 2, 2}, Case{19, 1, 30, 3, 2, 1, 1, 0},
                        Case{19, 9, 11, 3, 2, 2, 1, 2}, Case{3, 6, 5, 3, 1, 1, 1, 1}}) {
    SCOPED_TRACE(::testing::Message() << "c " << t.c << " h " << t.h << " k " << t.k << " stride "
                                      << t.stride << " dilation " << t.dilation);
    const bool one_d = t.h == 1;
    const int kh = one_d ? 1 : t.k;
    const auto out_size = [&](int in, int k, int pb, int pe) {
      return (in + pb + pe - (k - 1) * t.dilation - 1) / t.stride + 1;
    };
    const int oh = one_d ? 1 : out_size(t.h, t.k, t.pad_begin, t.pad_end);
    const int ow = out_size(t.wd, t.k, t.pad_begin, t.pad_end);
    const std::vector<float> xs = wave(t.c * t.h * t.wd, 1.f, 0.29f);
    const std::vector<float> w = wave(t.c * kh * t.k, 0.5f, 0.41f), bias = wave(t.c, 0.3f, 1.3f);
    const std::vector<float> residual = wave(t.c * oh * ow, 0.7f, 0.17f);
    ir::Graph g;
    g.opsets[""] = 13;
    const std::vector<int64_t> x_dims =
        one_d ? std::vector<int64_t>{1, t.c, t.wd} : std::vector<int64_t>{1, t.c, t.h, t.wd};
    const std::vector<int64_t> y_dims =
        one_d ? std::vector<int64_t>{1, t.c, ow} : std::vector<int64_t>{1, t.c, oh, ow};
    add_f32_input(g, "x", x_dims);
    add_f32_input(g, "r", y_dims);
    g.constants["w"] = one_d ? f32({t.c, 1, t.k}, w) : f32({t.c, 1, t.k, t.k}, w);
    g.constants["b"] = f32({t.c}, bias);
    ir::Node& conv = g.add_node("Conv", {"x", "w", "b"}, {"conv"});
    const auto per_axis = [&](int v) {
      return one_d ? std::vector<int64_t>{v} : std::vector<int64_t>{v, v};
    };
    with_ints(conv, "strides", per_axis(t.stride));
    with_ints(conv, "dilations", per_axis(t.dilation));
    std::vector<int64_t> pads = per_axis(t.pad_begin), ends = per_axis(t.pad_end);
    pads.insert(pads.end(), ends.begin(), ends.end());
    with_ints(conv, "pads", pads);
    conv.attributes["group"].kind = ir::Attribute::Kind::i;
    conv.attributes["group"].i = t.c;
    g.add_node("Add", {"conv", "r"}, {"sum"});
    g.add_node("Relu", {"sum"}, {"y"});
    add_output(g, "y");
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    for (const auto& impl : exe->placement().node_implementation)
      EXPECT_TRUE(impl.find("gemm") == std::string::npos ||
                  impl.find("direct depthwise") != std::string::npos)
          << impl;
    std::map<std::string, Value> values = {{"x", f32(x_dims, xs)}, {"r", f32(y_dims, residual)}};
    exe->run(values);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.element_count(), int64_t{t.c} * oh * ow);
    for (int c = 0; c < t.c; ++c)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          double acc = bias[c];
          for (int a = 0; a < kh; ++a)
            for (int b = 0; b < t.k; ++b) {
              const int ii = one_d ? 0 : i * t.stride - t.pad_begin + a * t.dilation;
              const int jj = j * t.stride - t.pad_begin + b * t.dilation;
              if (ii < 0 || ii >= t.h || jj < 0 || jj >= t.wd) continue;
              acc += double(w[(c * kh + a) * t.k + b]) * xs[(c * t.h + ii) * t.wd + jj];
            }
          const int at = (c * oh + i) * ow + j;
          ASSERT_NEAR(y.data_as<float>()[at], std::max(0.0, acc + residual[at]), 1e-5)
              << c << " " << i << " " << j;
        }
  }
}

// An fp16 model as float16 converters write it: f16 input and output, f16 weights, a Conv in
// f16 and an f32 island (Cast to f32, Sigmoid, Cast back). The CPU computes it all in f32: the
// weights widened once, the Casts gone, the Conv a fused oneDNN convolution with the sigmoid as
// its post-op; the caller still passes and gets f16. The result is the f32 formula rounded to
// f16 once at the end (an f16-computing runtime rounds after every op instead).
TEST(ExporterIdioms, Fp16ModelsComputeInF32WithTheirInterfaceKept) {
  const int c = 4, m = 8, h = 6, wd = 5;
  const std::vector<float> xs = wave(c * h * wd, 1.f, 0.43f), w = wave(m * c * 9, 0.3f, 0.19f);
  Tensor w16(ElementType::f16, {m, c, 3, 3}), x16(ElementType::f16, {1, c, h, wd});
  for (std::size_t i = 0; i < w.size(); ++i) w16.data_as<f16>()[i] = f16(w[i]);
  for (std::size_t i = 0; i < xs.size(); ++i) x16.data_as<f16>()[i] = f16(xs[i]);
  ir::Graph g;
  g.opsets[""] = 13;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f16, true, {{1, ""}, {c, ""}, {h, ""}, {wd, ""}}});
  g.constants["w"] = w16;
  with_ints(g.add_node("Conv", {"x", "w"}, {"conv"}), "pads", {1, 1, 1, 1});
  auto cast = [&](const std::string& from, const std::string& to, ElementType type) {
    ir::Node& n = g.add_node("Cast", {from}, {to});
    n.attributes["to"].kind = ir::Attribute::Kind::i;
    n.attributes["to"].i = static_cast<int64_t>(type);
  };
  cast("conv", "conv32", ElementType::f32);
  g.add_node("Sigmoid", {"conv32"}, {"sig32"});
  cast("sig32", "y", ElementType::f16);
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f16, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  const auto placement = exe->placement();
  EXPECT_EQ(kernel_free(placement.node_implementation[0]), "oneDNN convolution + sigmoid");
  EXPECT_EQ(kernel_free(placement.node_implementation[1]), "removed by graph optimisation");
  EXPECT_EQ(kernel_free(placement.node_implementation[2]), "fused into Conv");
  std::map<std::string, Value> values = {{"x", x16}};
  exe->run(values);
  const Tensor& y = values.at("y").tensor();
  ASSERT_EQ(y.element_type(), ElementType::f16);
  std::vector<float> x_rounded(xs.size()), w_rounded(w.size());
  for (std::size_t i = 0; i < xs.size(); ++i) x_rounded[i] = float(x16.data_as<f16>()[i]);
  for (std::size_t i = 0; i < w.size(); ++i) w_rounded[i] = float(w16.data_as<f16>()[i]);
  const auto ref = conv2d(x_rounded, w_rounded, c, m, h, wd, 3, 1);
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const float expected = float(f16(static_cast<float>(1 / (1 + std::exp(-ref[i])))));
    // One f16 rounding of a value in (0, 1): within half an f16 unit, 2^-12 at most.
    EXPECT_NEAR(float(y.data_as<f16>()[i]), expected, 2.5e-4) << i;
  }
}

namespace {

// Bilinear resize of one plane by ONNX's half_pixel rule (align_corners = false), the source
// coordinate clamped to the input as the spec's linear mode does.
std::vector<double> bilinear(const std::vector<double>& x, int h, int wd, int oh, int ow) {
  std::vector<double> y(static_cast<std::size_t>(oh * ow));
  auto source = [](int o, int in, int out) {
    const double s = std::clamp((o + 0.5) * in / out - 0.5, 0.0, in - 1.0);
    const int i0 = static_cast<int>(std::floor(s));
    return std::tuple{i0, std::min(i0 + 1, in - 1), s - i0};
  };
  for (int i = 0; i < oh; ++i)
    for (int j = 0; j < ow; ++j) {
      const auto [r0, r1, fr] = source(i, h, oh);
      const auto [c0, c1, fc] = source(j, wd, ow);
      y[i * ow + j] = (1 - fr) * ((1 - fc) * x[r0 * wd + c0] + fc * x[r0 * wd + c1]) +
                      fr * ((1 - fc) * x[r1 * wd + c0] + fc * x[r1 * wd + c1]);
    }
  return y;
}

}  // namespace

// A bilinear Resize (half_pixel, to a size given by a constant, not a whole factor) between two
// convolutions: with channels-last convolutions (AVX-512 CPUs) it resizes whole pixels of
// that memory instead of making plain copies; either way the values are the formula's.
TEST(ExporterIdioms, BilinearResizeBetweenConvolutionsMatchesTheFormula) {
  const int c = 8, h = 5, wd = 6, oh = 8, ow = 9;
  const std::vector<float> xs = wave(c * h * wd, 1.f, 0.31f), w1 = wave(c * c, 0.4f, 0.27f),
                           w2 = wave(c * c, 0.3f, 0.61f);
  ir::Graph g;
  g.opsets[""] = 13;
  add_f32_input(g, "x", {1, c, h, wd});
  g.constants["w1"] = f32({c, c, 1, 1}, w1);
  g.constants["w2"] = f32({c, c, 1, 1}, w2);
  Tensor sizes(ElementType::i64, {4});
  const int64_t target[] = {1, c, oh, ow};
  std::copy(target, target + 4, sizes.data_as<int64_t>());
  g.constants["sizes"] = sizes;
  g.add_node("Conv", {"x", "w1"}, {"a"});
  ir::Node& resize = g.add_node("Resize", {"a", "", "", "sizes"}, {"up"});
  resize.attributes["mode"].kind = ir::Attribute::Kind::s;
  resize.attributes["mode"].s = "linear";
  g.add_node("Conv", {"up", "w2"}, {"y"});
  add_output(g, "y");
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  if (cpu::onednn::preferred_conv_layout() == cpu::onednn::kChannelsLast) {
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[1]),
              "C++ kernel on the convolutions' channels-last layout");
  }
  std::map<std::string, Value> values = {{"x", f32({1, c, h, wd}, xs)}};
  exe->run(values);
  const auto a = conv2d(xs, w1, c, c, h, wd, 1, 0);
  std::vector<float> up(static_cast<std::size_t>(c * oh * ow));
  for (int ch = 0; ch < c; ++ch) {
    const std::vector<double> plane(a.begin() + ch * h * wd, a.begin() + (ch + 1) * h * wd);
    const auto r = bilinear(plane, h, wd, oh, ow);
    std::copy(r.begin(), r.end(), up.begin() + ch * oh * ow);
  }
  const auto y = conv2d(up, w2, c, c, oh, ow, 1, 0);
  for (std::size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(values.at("y").tensor().data_as<float>()[i], y[i], 1e-5) << i;
}
