// Convolutional classifiers: ResNet-50 and MobileNetV3-Small.

#include <algorithm>

#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;

std::string conv_bn(ModelBuilder& b, const std::string& x, ConvSpec spec, bool with_relu) {
  spec.bias = false;  // BatchNorm follows, as in torchvision
  std::string y = batch_norm(b, conv(b, x, spec), spec.out);
  return with_relu ? relu(b, y) : y;
}

// ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution.
std::string bottleneck(ModelBuilder& b, const std::string& x, int64_t in, int64_t width,
                       int64_t stride) {
  const int64_t out = width * 4;
  std::string y = conv_bn(b, x, {in, width, 1, 1}, true);
  y = conv_bn(b, y, {width, width, 3, stride}, true);
  y = conv_bn(b, y, {width, out, 1, 1}, false);
  const std::string skip =
      (in != out || stride != 1) ? conv_bn(b, x, {in, out, 1, stride}, false) : x;
  return relu(b, b.node("Add", {y, skip}));
}

int64_t make_divisible(double v) {
  return std::max<int64_t>(8, static_cast<int64_t>(v + 4) / 8 * 8);
}

std::string squeeze_excite(ModelBuilder& b, const std::string& x, int64_t channels) {
  const int64_t squeezed = make_divisible(channels / 4.0);
  std::string s = b.node("GlobalAveragePool", {x});
  s = relu(b, conv(b, s, {channels, squeezed, 1, 1}));
  s = conv(b, s, {squeezed, channels, 1, 1});
  s = b.node("HardSigmoid", {s}, {{"alpha", 1.0f / 6.0f}, {"beta", 0.5f}});
  return b.node("Mul", {x, s});
}

struct InvertedResidual {
  int64_t kernel, expanded, out;
  bool se, hard_swish;
  int64_t stride;
};

}  // namespace

void build_resnet50(const std::string& dir) {
  ModelBuilder b("resnet50", 50);
  std::string x = b.input("image", kFloat, {int64_t{1}, int64_t{3}, int64_t{224}, int64_t{224}});
  x = conv_bn(b, x, {3, 64, 7, 2}, true);
  x = b.node("MaxPool", {x},
             {{"kernel_shape", std::vector<int64_t>{3, 3}},
              {"strides", std::vector<int64_t>{2, 2}},
              {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  int64_t channels = 64;
  const int64_t blocks[4] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = 64 << stage;
    for (int64_t i = 0; i < blocks[stage]; ++i) {
      x = bottleneck(b, x, channels, width, (stage > 0 && i == 0) ? 2 : 1);
      channels = width * 4;
    }
  }
  x = b.node("Flatten", {b.node("GlobalAveragePool", {x})}, {{"axis", int64_t{1}}});
  x = b.node("Gemm",
             {x, b.fan_in_weight("fc_w", {1000, 2048}, 4096), b.weight("fc_b", {1000}, 0.05f)},
             {{"transB", int64_t{1}}});
  b.output(x, "logits");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"image"}, {random_floats(b.rng(), {1, 3, 224, 224}, -1.0f, 1.0f)});
}

void build_mobilenet_v3(const std::string& dir) {
  ModelBuilder b("mobilenet_v3_small", 3);
  std::string x = b.input("image", kFloat, {int64_t{1}, int64_t{3}, int64_t{224}, int64_t{224}});
  x = hard_swish(b, conv_bn(b, x, {3, 16, 3, 2}, false));
  // torchvision's mobilenet_v3_small configuration.
  const InvertedResidual blocks[] = {
      {3, 16, 16, true, false, 2}, {3, 72, 24, false, false, 2}, {3, 88, 24, false, false, 1},
      {5, 96, 40, true, true, 2},  {5, 240, 40, true, true, 1},  {5, 240, 40, true, true, 1},
      {5, 120, 48, true, true, 1}, {5, 144, 48, true, true, 1},  {5, 288, 96, true, true, 2},
      {5, 576, 96, true, true, 1}, {5, 576, 96, true, true, 1},
  };
  int64_t channels = 16;
  for (const InvertedResidual& r : blocks) {
    auto act = [&](const std::string& v) { return r.hard_swish ? hard_swish(b, v) : relu(b, v); };
    std::string y = x;
    if (r.expanded != channels) y = act(conv_bn(b, y, {channels, r.expanded, 1, 1}, false));
    y = act(conv_bn(b, y, {r.expanded, r.expanded, r.kernel, r.stride, r.expanded}, false));
    if (r.se) y = squeeze_excite(b, y, r.expanded);
    y = conv_bn(b, y, {r.expanded, r.out, 1, 1}, false);
    x = (r.stride == 1 && channels == r.out) ? b.node("Add", {y, x}) : y;
    channels = r.out;
  }
  x = hard_swish(b, conv_bn(b, x, {channels, 576, 1, 1}, false));
  x = b.node("Flatten", {b.node("GlobalAveragePool", {x})}, {{"axis", int64_t{1}}});
  x = hard_swish(
      b, b.node("Gemm",
                {x, b.fan_in_weight("fc1_w", {1024, 576}, 576), b.weight("fc1_b", {1024}, 0.05f)},
                {{"transB", int64_t{1}}}));
  x = b.node("Gemm",
             {x, b.fan_in_weight("fc2_w", {1000, 1024}, 2048), b.weight("fc2_b", {1000}, 0.05f)},
             {{"transB", int64_t{1}}});
  b.output(x, "logits");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"image"}, {random_floats(b.rng(), {1, 3, 224, 224}, -1.0f, 1.0f)});
}

}  // namespace zoo
