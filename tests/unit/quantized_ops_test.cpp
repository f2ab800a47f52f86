// Quantized models as ONNX Runtime's quantization tool writes them, on the CPU device: the
// dynamically quantized Conv (DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(scales) ->
// Add(bias) -> activations) becomes one DynamicQuantConv (uint8 input, s8 weights, int32
// accumulators, an integer correction for weights that do not fit s8). Its results are
// compared with the ONNX definition computed here: DynamicQuantizeLinear in float as the spec's
// reference does it, the integer convolution exact, the scaling in float.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "devices/cpu/cpu_device.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "placement_text.hpp"

using namespace sinter;

namespace {

std::vector<float> wave(std::size_t n, float scale, float step, float offset = 0.f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = scale * std::sin(step * static_cast<float>(i) + 0.3f) + offset;
  return v;
}

// DynamicQuantizeLinear by the spec (float arithmetic, round half to even).
struct Quantized {
  std::vector<int> q;
  float scale;
  int zero_point;
};
Quantized dynamic_quantize(const std::vector<float>& x) {
  float lo = 0, hi = 0;
  for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v);
  Quantized r;
  r.scale = (hi - lo) / 255.0f;
  r.zero_point = static_cast<int>(std::nearbyint(std::clamp(-lo / r.scale, 0.0f, 255.0f)));
  for (float v : x)
    r.q.push_back(std::clamp(static_cast<int>(std::nearbyint(v / r.scale)) + r.zero_point, 0, 255));
  return r;
}

struct ConvCase {
  int c, m, h, wd, k, stride, pad, group;
  bool uint8_weights, per_channel_zero_point, residual;
  bool integer_bias = false;  // the older quantizer's Cast<int32>(Floor(bias / scale))
};

// ConvInteger by its definition (padding is zero after the zero points are taken off), then
// Cast, Mul by x_scale * w_scale[m], Add bias[m], [Add residual], Relu.
std::vector<double> quantized_conv(const ConvCase& t, const Quantized& x, const std::vector<int>& w,
                                   const std::vector<int>& wz, const std::vector<float>& ws,
                                   const std::vector<float>& bias,
                                   const std::vector<float>& residual, int oh, int ow) {
  std::vector<double> y(static_cast<std::size_t>(t.m * oh * ow));
  const int cg = t.c / t.group, mg = t.m / t.group;
  for (int o = 0; o < t.m; ++o)
    for (int i = 0; i < oh; ++i)
      for (int j = 0; j < ow; ++j) {
        long acc = 0;
        const int zw = wz[wz.size() == 1 ? 0 : o];
        for (int ch = (o / mg) * cg; ch < (o / mg + 1) * cg; ++ch)
          for (int a = 0; a < t.k; ++a)
            for (int b = 0; b < t.k; ++b) {
              const int ii = i * t.stride - t.pad + a, jj = j * t.stride - t.pad + b;
              if (ii < 0 || jj < 0 || ii >= t.h || jj >= t.wd) continue;
              acc += static_cast<long>(x.q[(ch * t.h + ii) * t.wd + jj] - x.zero_point) *
                     (w[((o * cg + ch % cg) * t.k + a) * t.k + b] - zw);
            }
        const float scale = x.scale * ws[ws.size() == 1 ? 0 : o];
        float v =
            t.integer_bias
                ? static_cast<float>(acc + static_cast<long>(std::floor(bias[o] / scale))) * scale
                : static_cast<float>(acc) * scale + bias[o];
        if (t.residual) v += residual[(o * oh + i) * ow + j];
        y[(o * oh + i) * ow + j] = std::max(v, 0.f);
      }
  return y;
}

Tensor f32(Shape shape, const std::vector<float>& values) {
  Tensor t(ElementType::f32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<float>());
  return t;
}

// uint8 or int8 codes (weights, zero points) as a tensor of that type.
Tensor codes_tensor(bool uint8, Shape shape, const std::vector<int>& values) {
  Tensor t(uint8 ? ElementType::u8 : ElementType::i8, std::move(shape));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (uint8)
      t.data_as<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
    else
      t.data_as<int8_t>()[i] = static_cast<int8_t>(values[i]);
  }
  return t;
}

}  // namespace

// The dynamically quantized Conv of ONNX Runtime's quantization tool, for uint8 weights over
// their whole range around a zero point (wq - wz does not fit int8: the correction path), per
// channel zero points, int8 weights, strides, padding, groups and a residual: one
// DynamicQuantConv each, equal to the definition up to the float rounding of the scaling.
TEST(QuantizedOps, DynamicQuantConvMatchesTheDefinition) {
  for (const ConvCase& t : {ConvCase{4, 8, 7, 9, 3, 1, 1, 1, true, false, false},
                            ConvCase{6, 6, 8, 8, 3, 2, 1, 3, true, true, false},
                            ConvCase{8, 8, 6, 6, 3, 1, 1, 8, true, false, true},
                            ConvCase{5, 7, 6, 7, 1, 1, 0, 1, false, false, true},
                            ConvCase{1, 24, 8, 16, 3, 1, 1, 1, true, false, false},
                            ConvCase{3, 16, 9, 12, 3, 1, 1, 1, true, false, false, true},
                            ConvCase{8, 8, 6, 6, 3, 2, 1, 1, true, true, true, true}}) {
    SCOPED_TRACE(::testing::Message() << "c " << t.c << " m " << t.m << " k " << t.k << " stride "
                                      << t.stride << " group " << t.group);
    const int cg = t.c / t.group;
    const int oh = (t.h + 2 * t.pad - t.k) / t.stride + 1,
              ow = (t.wd + 2 * t.pad - t.k) / t.stride + 1;
    const std::vector<float> xs = wave(t.c * t.h * t.wd, 2.f, 0.37f, 0.4f);
    std::vector<int> w(static_cast<std::size_t>(t.m * cg * t.k * t.k));
    for (std::size_t i = 0; i < w.size(); ++i)
      w[i] = t.uint8_weights ? static_cast<int>((i * 97 + 13) % 256)
                             : static_cast<int>((i * 37) % 255) - 127;
    std::vector<int> wz = {t.uint8_weights ? 151 : 0};
    if (t.per_channel_zero_point)
      for (int o = 1; o < t.m; ++o) wz.push_back(100 + 17 * o);
    std::vector<float> ws = {0.0123f};
    if (t.per_channel_zero_point)
      for (int o = 1; o < t.m; ++o) ws.push_back(0.01f + 0.001f * o);
    const std::vector<float> bias = wave(t.m, 0.5f, 1.1f),
                             residual = wave(t.m * oh * ow, 1.f, 0.21f);

    ir::Graph g;
    g.opsets[""] = 13;
    g.inputs.push_back({"x",
                        PortInfo::Kind::tensor,
                        ElementType::f32,
                        true,
                        {{1, ""}, {t.c, ""}, {t.h, ""}, {t.wd, ""}}});
    g.constants["w"] = codes_tensor(t.uint8_weights, {t.m, cg, t.k, t.k}, w);
    g.constants["wz"] = codes_tensor(t.uint8_weights, {static_cast<int64_t>(wz.size())}, wz);
    g.constants["ws"] = f32({static_cast<int64_t>(ws.size())}, ws);
    g.constants["b"] = f32({1, t.m, 1, 1}, bias);
    if (t.residual) {
      g.inputs.push_back({"r",
                          PortInfo::Kind::tensor,
                          ElementType::f32,
                          true,
                          {{1, ""}, {t.m, ""}, {oh, ""}, {ow, ""}}});
    }
    g.add_node("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
    g.add_node("Mul", {"xs", "ws"}, {"scale"});
    ir::Node& ci = g.add_node("ConvInteger", {"xq", "w", "xz", "wz"}, {"acc"});
    for (const auto& [name, v] : std::map<std::string, std::vector<int64_t>>{
             {"strides", {t.stride, t.stride}}, {"pads", {t.pad, t.pad, t.pad, t.pad}}}) {
      ci.attributes[name].kind = ir::Attribute::Kind::ints;
      ci.attributes[name].ints = v;
    }
    ci.attributes["group"].kind = ir::Attribute::Kind::i;
    ci.attributes["group"].i = t.group;
    auto cast_to = [&](const char* from, const char* to, ElementType type) {
      ir::Node& cast = g.add_node("Cast", {from}, {to});
      cast.attributes["to"].kind = ir::Attribute::Kind::i;
      cast.attributes["to"].i = static_cast<int64_t>(type);
    };
    if (t.integer_bias) {
      g.constants["b_vector"] = f32({t.m}, bias);
      Tensor shape(ElementType::i64, {4});
      const int64_t dims[] = {1, t.m, 1, 1};
      std::copy(dims, dims + 4, shape.data_as<int64_t>());
      g.constants["bias_shape"] = shape;
      g.add_node("Mul", {"xs", "ws"}, {"bias_scale"});
      g.add_node("Div", {"b_vector", "bias_scale"}, {"bias_in_units"});
      g.add_node("Floor", {"bias_in_units"}, {"bias_floor"});
      cast_to("bias_floor", "bias_int", ElementType::i32);
      g.add_node("Reshape", {"bias_int", "bias_shape"}, {"bias_int4"});
      g.add_node("Add", {"acc", "bias_int4"}, {"acc_biased"});
      cast_to("acc_biased", "accf", ElementType::f32);
      g.add_node("Mul", {"accf", "scale"}, {"biased"});
    } else {
      cast_to("acc", "accf", ElementType::f32);
      g.add_node("Mul", {"accf", "scale"}, {"scaled"});
      g.add_node("Add", {"scaled", "b"}, {"biased"});
    }
    if (t.residual) g.add_node("Add", {"biased", "r"}, {"summed"});
    g.add_node("Relu", {t.residual ? "summed" : "biased"}, {"y"});
    g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[2]),
              std::string(cpu::onednn::exact_int8_products()
                              ? "dynamic uint8 quantization + oneDNN int8 convolution"
                              : "dynamic uint8 quantization + oneDNN f32 convolution of the uint8 "
                                "values (no VNNI)") +
                  (t.residual ? " + sum" : "") + " + relu");
    std::map<std::string, Value> values = {{"x", f32({1, t.c, t.h, t.wd}, xs)}};
    if (t.residual) values["r"] = f32({1, t.m, oh, ow}, residual);
    exe->run(values);
    const auto ref = quantized_conv(t, dynamic_quantize(xs), w, wz, ws, bias, residual, oh, ow);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.element_count(), static_cast<int64_t>(ref.size()));
    for (std::size_t i = 0; i < ref.size(); ++i)
      EXPECT_NEAR(y.data_as<float>()[i], ref[i], 1e-5 * (1 + std::fabs(ref[i]))) << i;
  }
}

// The dynamically quantized MatMul (DynamicQuantizeLinear -> MatMulInteger -> Cast ->
// Mul(x scale * w scales) [-> Add(bias)]) becomes one DynamicQuantMatMul: uint8 weights over
// their whole range with per-column zero points (the correction path), int8 weights, one scale
// or one per column, 2-D and 3-D x, K from 1 to more than a vector; equal to the definition
// (the integer product exact, then the float scaling). Under unit_quantized_avx2 (no VNNI) this
// fails if the codes are not split into 7-bit halves: oneDNN's products saturate there.
TEST(QuantizedOps, DynamicQuantMatMulMatchesTheDefinition) {
  struct MatMulCase {
    std::vector<int64_t> x_shape;
    int64_t n;
    bool uint8_weights, per_column, bias;
  };
  for (const MatMulCase& t :
       {MatMulCase{{5, 7}, 9, true, false, true}, MatMulCase{{2, 3, 64}, 33, true, true, false},
        MatMulCase{{1, 1}, 1, false, false, false}, MatMulCase{{4, 130}, 17, false, true, true},
        MatMulCase{{3, 2, 40}, 70, true, true, true}}) {
    const int64_t k = t.x_shape.back(), n = t.n;
    int64_t m = 1;
    for (std::size_t i = 0; i + 1 < t.x_shape.size(); ++i) m *= t.x_shape[i];
    SCOPED_TRACE(::testing::Message() << "m " << m << " k " << k << " n " << n << " uint8 "
                                      << t.uint8_weights << " per column " << t.per_column);
    const std::vector<float> xs = wave(static_cast<std::size_t>(m * k), 1.7f, 0.41f, 0.3f);
    std::vector<int> w(static_cast<std::size_t>(k * n));
    for (std::size_t i = 0; i < w.size(); ++i)
      w[i] = t.uint8_weights ? static_cast<int>((i * 97 + 13) % 256)
                             : static_cast<int>((i * 37) % 255) - 127;
    std::vector<int> wz = {t.uint8_weights ? 140 : 0};
    std::vector<float> ws = {0.0217f};
    if (t.per_column)
      for (int64_t c = 1; c < n; ++c) {
        wz.push_back(t.uint8_weights ? static_cast<int>((c * 41) % 256)
                                     : static_cast<int>(c % 5) - 2);
        ws.push_back(0.01f + 0.0007f * static_cast<float>(c));
      }
    const std::vector<float> bias = wave(static_cast<std::size_t>(n), 0.5f, 1.1f);

    ir::Graph g;
    g.opsets[""] = 13;
    std::vector<Dimension> dims;
    for (int64_t d : t.x_shape) dims.push_back({d, ""});
    g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, dims});
    g.constants["w"] = codes_tensor(t.uint8_weights, {k, n}, w);
    g.constants["wz"] = codes_tensor(t.uint8_weights, {static_cast<int64_t>(wz.size())}, wz);
    g.constants["ws"] = f32({static_cast<int64_t>(ws.size())}, ws);
    g.constants["b"] = f32({n}, bias);
    g.add_node("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
    g.add_node("Mul", {"xs", "ws"}, {"scale"});
    g.add_node("MatMulInteger", {"xq", "w", "xz", "wz"}, {"acc"});
    ir::Node& cast = g.add_node("Cast", {"acc"}, {"accf"});
    cast.attributes["to"].kind = ir::Attribute::Kind::i;
    cast.attributes["to"].i = static_cast<int64_t>(ElementType::f32);
    g.add_node("Mul", {"accf", "scale"}, {t.bias ? "scaled" : "y"});
    if (t.bias) g.add_node("Add", {"scaled", "b"}, {"y"});
    g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[2]),
              std::string(cpu::onednn::exact_int8_products()
                              ? "dynamic uint8 quantization + oneDNN int8 matmul"
                              : "dynamic uint8 quantization + oneDNN int8 matmul of the codes' "
                                "7-bit halves (no VNNI)") +
                  (t.bias ? " + bias" : ""));
    std::map<std::string, Value> values = {{"x", f32(t.x_shape, xs)}};
    exe->run(values);
    const Quantized x = dynamic_quantize(xs);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.element_count(), m * n);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) {
        long acc = 0;
        const int zw = wz[wz.size() == 1 ? 0 : c];
        for (int64_t p = 0; p < k; ++p)
          acc += static_cast<long>(x.q[r * k + p] - x.zero_point) * (w[p * n + c] - zw);
        float want = static_cast<float>(acc) * (x.scale * ws[ws.size() == 1 ? 0 : c]);
        if (t.bias) want += bias[c];
        ASSERT_EQ(y.data_as<float>()[r * n + c], want) << r << ", " << c;
      }
  }
}

// DynamicQuantizeLinear on its own: the spec's float formulas, ties rounded to even (x / scale
// exactly halfway between two integers), the zero point of an all-positive or all-negative
// tensor, and a tensor of zeros (scale 0, every value 0).
TEST(QuantizedOps, DynamicQuantizeLinearRoundsAsTheSpecSays) {
  const std::vector<std::vector<float>> inputs = {{0.f, 2.f, -3.f, -2.5f, 1000.f, -1000.f},
                                                  {1.f, 2.5f, 3.5f, 255.f},
                                                  {-1.f, -2.f, -0.5f},
                                                  {0.f, 0.f, 0.f},
                                                  wave(1000, 3.f, 0.013f, 0.7f)};
  for (const auto& x : inputs) {
    ir::Graph g;
    g.opsets[""] = 13;
    const int64_t n = static_cast<int64_t>(x.size());
    g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{n, ""}}});
    g.add_node("DynamicQuantizeLinear", {"x"}, {"q", "s", "z"});
    for (const char* o : {"q", "s", "z"})
      g.outputs.push_back({o, PortInfo::Kind::tensor, ElementType::undefined, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    std::map<std::string, Value> values = {{"x", f32({n}, x)}};
    exe->run(values);
    float lo = 0, hi = 0;
    for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v);
    const float scale = (hi - lo) / 255.0f;
    EXPECT_EQ(values.at("s").tensor().data_as<float>()[0], scale);
    if (scale == 0) {
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(values.at("q").tensor().data_as<uint8_t>()[i], 0);
      continue;
    }
    const Quantized ref = dynamic_quantize(x);
    EXPECT_EQ(values.at("z").tensor().data_as<uint8_t>()[0], ref.zero_point);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(values.at("q").tensor().data_as<uint8_t>()[i], ref.q[i]) << i << " " << x[i];
  }
}

namespace {

// QuantizeLinear by the spec: x / scale in float, ties to even, the zero point added,
// saturated to the codes' range ([0, 255] or [-128, 127]).
int quantize_linear(float x, float scale, int zero_point, bool uint8) {
  const int lo = uint8 ? 0 : -128, hi = uint8 ? 255 : 127;
  return std::clamp(static_cast<int>(std::nearbyint(x / scale)) + zero_point, lo, hi);
}

// Per-tensor activation parameters of a QDQ graph: scale "s", zero point "z" (uint8 or int8).
void add_activation_params(ir::Graph& g, float scale, int zero_point, bool uint8) {
  g.constants["s"] = f32({}, {scale});
  g.constants["z"] = codes_tensor(uint8, {}, {zero_point});
}

ir::Node& add_dequantize(ir::Graph& g, const std::string& codes, const std::string& scale,
                         const std::string& zero_point, const std::string& out, int64_t axis) {
  ir::Node& n = g.add_node("DequantizeLinear", {codes, scale, zero_point}, {out});
  n.attributes["axis"].kind = ir::Attribute::Kind::i;
  n.attributes["axis"].i = axis;
  return n;
}

Tensor int32_tensor(Shape shape, const std::vector<int>& values) {
  Tensor t(ElementType::i32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<int32_t>());
  return t;
}

}  // namespace

// A statically quantized Conv in the QDQ format (ONNX Runtime's quantize_static): x through
// QuantizeLinear and DequantizeLinear, int8 weights with per-channel (or one) scale behind
// DequantizeLinear(axis 0), an int32 bias behind DequantizeLinear, then Relu. It becomes one
// oneDNN int8 convolution with the fixed input scale and zero point, for uint8 and int8
// activations, strides and groups. The definition is the f32 Conv of the dequantized values
// (computed here in double): the kernel's integers are exact and its one float scaling rounds
// once, so the bound is a few float roundings of the terms' magnitudes.
TEST(QuantizedOps, QdqConvMatchesTheDefinition) {
  struct QdqConvCase {
    int c, m, h, wd, k, stride, pad, group;
    bool uint8_input, per_channel;
  };
  for (const QdqConvCase& t : {QdqConvCase{4, 8, 7, 9, 3, 1, 1, 1, true, true},
                               QdqConvCase{6, 6, 8, 8, 3, 2, 1, 3, false, true},
                               QdqConvCase{5, 7, 6, 7, 1, 1, 0, 1, false, false},
                               QdqConvCase{8, 16, 9, 9, 3, 1, 1, 1, true, false}}) {
    SCOPED_TRACE(::testing::Message() << "c " << t.c << " m " << t.m << " uint8 input "
                                      << t.uint8_input << " per channel " << t.per_channel);
    const int cg = t.c / t.group;
    const int oh = (t.h + 2 * t.pad - t.k) / t.stride + 1,
              ow = (t.wd + 2 * t.pad - t.k) / t.stride + 1;
    const std::vector<float> xs = wave(t.c * t.h * t.wd, 2.f, 0.37f, 0.4f);
    const float s = 0.0173f;
    const int z = t.uint8_input ? 117 : -11;  // codes saturate at both ends for x in [-1.6, 2.4]
    std::vector<int> w(static_cast<std::size_t>(t.m * cg * t.k * t.k)), bias(t.m);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int>((i * 37) % 255) - 127;
    std::vector<float> ws = {0.0123f}, bs;
    if (t.per_channel)
      for (int o = 1; o < t.m; ++o) ws.push_back(0.01f + 0.001f * o);
    for (int o = 0; o < t.m; ++o) {
      bias[o] = (o * 7919) % 2001 - 1000;
      bs.push_back(s * ws[ws.size() == 1 ? 0 : o]);
    }

    ir::Graph g;
    g.opsets[""] = 13;
    g.inputs.push_back({"x",
                        PortInfo::Kind::tensor,
                        ElementType::f32,
                        true,
                        {{1, ""}, {t.c, ""}, {t.h, ""}, {t.wd, ""}}});
    add_activation_params(g, s, z, t.uint8_input);
    g.constants["w"] = codes_tensor(false, {t.m, cg, t.k, t.k}, w);
    g.constants["ws"] = f32({static_cast<int64_t>(ws.size())}, ws);
    g.constants["wz"] =
        codes_tensor(false, {static_cast<int64_t>(ws.size())}, std::vector<int>(ws.size(), 0));
    g.constants["b"] = int32_tensor({t.m}, bias);
    g.constants["bs"] = f32({t.m}, bs);
    g.constants["bz"] = int32_tensor({t.m}, std::vector<int>(t.m, 0));
    g.add_node("QuantizeLinear", {"x", "s", "z"}, {"xq"});
    add_dequantize(g, "xq", "s", "z", "xd", 1);
    add_dequantize(g, "w", "ws", "wz", "wd", 0);
    add_dequantize(g, "b", "bs", "bz", "bd", 0);
    ir::Node& conv = g.add_node("Conv", {"xd", "wd", "bd"}, {"conv"});
    for (const auto& [name, v] : std::map<std::string, std::vector<int64_t>>{
             {"strides", {t.stride, t.stride}}, {"pads", {t.pad, t.pad, t.pad, t.pad}}}) {
      conv.attributes[name].kind = ir::Attribute::Kind::ints;
      conv.attributes[name].ints = v;
    }
    conv.attributes["group"].kind = ir::Attribute::Kind::i;
    conv.attributes["group"].i = t.group;
    g.add_node("Relu", {"conv"}, {"y"});
    g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    EXPECT_EQ(kernel_free(exe->placement().node_implementation[4]),
              std::string("fixed-scale uint8 quantization (QDQ) + ") +
                  (cpu::onednn::exact_int8_products()
                       ? "oneDNN int8 convolution"
                       : "oneDNN f32 convolution of the uint8 values (no VNNI)") +
                  " + relu");
    std::map<std::string, Value> values = {{"x", f32({1, t.c, t.h, t.wd}, xs)}};
    exe->run(values);
    const Tensor& y = values.at("y").tensor();
    ASSERT_EQ(y.element_count(), static_cast<int64_t>(t.m * oh * ow));
    const int mg = t.m / t.group;
    for (int o = 0; o < t.m; ++o)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          const float wscale = ws[ws.size() == 1 ? 0 : o];
          double sum = bias[o] * static_cast<double>(bs[o]), magnitude = std::fabs(sum);
          for (int ch = (o / mg) * cg; ch < (o / mg + 1) * cg; ++ch)
            for (int a = 0; a < t.k; ++a)
              for (int b = 0; b < t.k; ++b) {
                const int ii = i * t.stride - t.pad + a, jj = j * t.stride - t.pad + b;
                if (ii < 0 || jj < 0 || ii >= t.h || jj >= t.wd) continue;
                const float xd =
                    static_cast<float>(
                        quantize_linear(xs[(ch * t.h + ii) * t.wd + jj], s, z, t.uint8_input) - z) *
                    s;
                const float wd =
                    static_cast<float>(w[((o * cg + ch % cg) * t.k + a) * t.k + b]) * wscale;
                sum += static_cast<double>(xd) * wd;
                magnitude += std::fabs(static_cast<double>(xd) * wd);
              }
          const double want = std::max(sum, 0.0);
          EXPECT_NEAR(y.data_as<float>()[(o * oh + i) * ow + j], want, 1e-6 * (1 + magnitude))
              << o << ", " << i << ", " << j;
        }
  }
}

// QDQ matrix products: MatMul of a quantized activation with int8 weights per column
// (DequantizeLinear axis 1) plus a bias Add, and Gemm with transB = 1 (weights [N, K], scales
// along axis 0) and its own bias. Each becomes one oneDNN int8 matmul; compared with the f32
// product of the dequantized values as for the Conv above.
TEST(QuantizedOps, QdqMatMulAndGemmMatchTheDefinition) {
  for (const bool gemm : {false, true}) {
    for (const bool uint8_input : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "gemm " << gemm << " uint8 input " << uint8_input);
      const int64_t m = 3, k = 70, n = 9;
      const std::vector<float> xs = wave(static_cast<std::size_t>(m * k), 1.7f, 0.41f, 0.3f);
      const float s = 0.0131f;
      const int z = uint8_input ? 131 : 3;
      std::vector<int> w(static_cast<std::size_t>(k * n));  // [k][n] as the product reads it
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int>((i * 37) % 255) - 127;
      std::vector<float> ws;
      for (int64_t c = 0; c < n; ++c) ws.push_back(0.01f + 0.0007f * static_cast<float>(c));
      const std::vector<float> bias = wave(static_cast<std::size_t>(n), 0.5f, 1.1f);

      ir::Graph g;
      g.opsets[""] = 13;
      g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{m, ""}, {k, ""}}});
      add_activation_params(g, s, z, uint8_input);
      std::vector<int> stored = w;  // Gemm with transB stores [n][k]
      if (gemm)
        for (int64_t r = 0; r < k; ++r)
          for (int64_t c = 0; c < n; ++c) stored[c * k + r] = w[r * n + c];
      g.constants["w"] = codes_tensor(false, gemm ? Shape{n, k} : Shape{k, n}, stored);
      g.constants["ws"] = f32({n}, ws);
      g.constants["wz"] = codes_tensor(false, {n}, std::vector<int>(n, 0));
      g.constants["b"] = f32({n}, bias);
      g.add_node("QuantizeLinear", {"x", "s", "z"}, {"xq"});
      add_dequantize(g, "xq", "s", "z", "xd", 1);
      add_dequantize(g, "w", "ws", "wz", "wd", gemm ? 0 : 1);
      if (gemm) {
        ir::Node& node = g.add_node("Gemm", {"xd", "wd", "b"}, {"y"});
        node.attributes["transB"].kind = ir::Attribute::Kind::i;
        node.attributes["transB"].i = 1;
      } else {
        g.add_node("MatMul", {"xd", "wd"}, {"product"});
        g.add_node("Add", {"product", "b"}, {"y"});
      }
      g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
      ir::validate(g);
      const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
      EXPECT_EQ(kernel_free(exe->placement().node_implementation[3]),
                std::string("fixed-scale uint8 quantization (QDQ) + ") +
                    (cpu::onednn::exact_int8_products()
                         ? "oneDNN int8 matmul"
                         : "oneDNN int8 matmul of the codes' 7-bit halves (no VNNI)") +
                    " + bias");
      std::map<std::string, Value> values = {{"x", f32({m, k}, xs)}};
      exe->run(values);
      const Tensor& y = values.at("y").tensor();
      ASSERT_EQ(y.element_count(), m * n);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c) {
          double sum = bias[c], magnitude = std::fabs(sum);
          for (int64_t p = 0; p < k; ++p) {
            const float xd =
                static_cast<float>(quantize_linear(xs[r * k + p], s, z, uint8_input) - z) * s;
            const float wd = static_cast<float>(w[p * n + c]) * ws[c];
            sum += static_cast<double>(xd) * wd;
            magnitude += std::fabs(static_cast<double>(xd) * wd);
          }
          EXPECT_NEAR(y.data_as<float>()[r * n + c], sum, 1e-6 * (1 + magnitude)) << r << ", " << c;
        }
    }
  }
}

// A QuantizeLinear -> DequantizeLinear pair no layer takes (here it feeds the graph output)
// runs as one QuantizeDequantize pass, equal to the spec's two steps exactly: ties to even
// (x / scale halfway between integers), saturation at both ends, int8 and uint8 codes. The
// codes themselves are an output too: QuantizeLinear's vectorised per-tensor path.
TEST(QuantizedOps, QuantizeDequantizePairEqualsTheTwoSteps) {
  const std::vector<float> x = {0.f,    0.25f,  0.75f, -0.25f, -0.75f, 1.25f, 100.f,
                                -100.f, 31.75f, -32.f, 3.3f,   -7.1f,  63.9f, -64.2f};
  for (const bool uint8 : {true, false}) {
    SCOPED_TRACE(::testing::Message() << "uint8 " << uint8);
    const float s = 0.5f;  // x / s exact: the ties above stay ties
    const int z = uint8 ? 128 : -1;
    ir::Graph g;
    g.opsets[""] = 13;
    const int64_t n = static_cast<int64_t>(x.size());
    g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{n, ""}}});
    add_activation_params(g, s, z, uint8);
    g.add_node("QuantizeLinear", {"x", "s", "z"}, {"xq"});
    add_dequantize(g, "xq", "s", "z", "y", 0);
    g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
    g.outputs.push_back({"xq", PortInfo::Kind::tensor, ElementType::undefined, false, {}});
    ir::validate(g);
    const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
    EXPECT_EQ(exe->placement().node_implementation[1],
              "QuantizeLinear + DequantizeLinear in one pass (C++)");
    std::map<std::string, Value> values = {{"x", f32({n}, x)}};
    exe->run(values);
    for (int64_t i = 0; i < n; ++i) {
      const int code = quantize_linear(x[i], s, z, uint8);
      const Tensor& q = values.at("xq").tensor();
      EXPECT_EQ(uint8 ? q.data_as<uint8_t>()[i] : q.data_as<int8_t>()[i], code) << x[i];
      EXPECT_EQ(values.at("y").tensor().data_as<float>()[i], static_cast<float>(code - z) * s)
          << x[i];
    }
  }
}
