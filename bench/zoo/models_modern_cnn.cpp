// Convolutional networks written after ResNet, in the spellings their PyTorch exports use:
// EfficientNet-B0 (SiLU, squeeze-excite with a Sigmoid gate), ConvNeXt (7x7 depthwise
// convolutions, channels-first LayerNorm written out as ReduceMean/Pow/Sqrt, Linear layers on a
// channels-last permutation) and a YOLOv8-style detector (Split, Concat, SPPF max pools,
// nearest upsampling). None of them was looked at while the CPU device's fusions were written:
// they check that the optimisations carry over to architectures the zoo did not start with.

#include <algorithm>

#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;

std::string conv_bn_silu(ModelBuilder& b, const std::string& x, ConvSpec spec, bool with_silu) {
  spec.bias = false;
  const std::string y = batch_norm(b, conv(b, x, spec), spec.out);
  return with_silu ? silu(b, y) : y;
}

// EfficientNet's MBConv: expand, depthwise, squeeze-excite (SiLU, Sigmoid), project.
std::string mbconv(ModelBuilder& b, const std::string& x, int64_t in, int64_t out, int64_t expand,
                   int64_t kernel, int64_t stride) {
  const int64_t hidden = in * expand;
  std::string y = x;
  if (expand != 1) y = conv_bn_silu(b, y, {in, hidden, 1, 1}, true);
  y = conv_bn_silu(b, y, {hidden, hidden, kernel, stride, hidden}, true);
  const int64_t squeezed = std::max<int64_t>(1, in / 4);
  std::string s = b.node("GlobalAveragePool", {y});
  s = silu(b, conv(b, s, {hidden, squeezed, 1, 1}));
  s = b.node("Sigmoid", {conv(b, s, {squeezed, hidden, 1, 1})});
  y = b.node("Mul", {y, s});
  y = conv_bn_silu(b, y, {hidden, out, 1, 1}, false);
  return (stride == 1 && in == out) ? b.node("Add", {y, x}) : y;
}

// ConvNeXt's LayerNorm over the channels of an NCHW tensor, as its reference code writes it.
std::string channels_first_layer_norm(ModelBuilder& b, const std::string& x, int64_t channels) {
  const std::vector<Attr> over_channels = {{"axes", std::vector<int64_t>{1}},
                                           {"keepdims", int64_t{1}}};
  const std::string centred = b.node("Sub", {x, b.node("ReduceMean", {x}, over_channels)});
  const std::string variance =
      b.node("ReduceMean", {b.node("Pow", {centred, b.scalar("two", 2.0f)})}, over_channels);
  const std::string normed =
      b.node("Div", {centred, b.node("Sqrt", {b.node("Add", {variance, b.scalar("eps", 1e-6f)})})});
  const std::string scaled =
      b.node("Mul", {normed, b.uniform("cln_scale", {channels, 1, 1}, 0.8f, 1.2f)});
  return b.node("Add", {scaled, b.weight("cln_bias", {channels, 1, 1}, 0.1f)});
}

// ConvNeXt's stem and downsampling layers: non-overlapping patches, no padding.
std::string patchify(ModelBuilder& b, const std::string& x, int64_t in, int64_t out, int64_t size) {
  return b.node("Conv",
                {x, b.fan_in_weight("patch_w", {out, in, size, size}, in * size * size),
                 b.weight("patch_b", {out}, 0.05f)},
                {{"kernel_shape", std::vector<int64_t>{size, size}},
                 {"strides", std::vector<int64_t>{size, size}}});
}

std::string convnext_block(ModelBuilder& b, const std::string& x, int64_t dim) {
  std::string y = conv(b, x, {dim, dim, 7, 1, dim});
  y = b.node("Transpose", {y}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}});
  y = layer_norm(b, y, dim);
  y = linear(b, gelu_erf(b, linear(b, y, dim, 4 * dim)), 4 * dim, dim);
  y = b.node("Mul", {y, b.uniform("layer_scale", {dim}, 0.05f, 0.15f)});
  y = b.node("Transpose", {y}, {{"perm", std::vector<int64_t>{0, 3, 1, 2}}});
  return b.node("Add", {x, y});
}

// YOLOv8's C2f: a 1x1 convolution split in two halves, bottlenecks on the second, everything
// concatenated and mixed by another 1x1 convolution.
std::string c2f(ModelBuilder& b, const std::string& x, int64_t in, int64_t out, int64_t blocks,
                bool shortcut) {
  const int64_t half = out / 2;
  const std::string mixed = conv_bn_silu(b, x, {in, 2 * half, 1, 1}, true);
  std::vector<std::string> parts =
      b.node_n("Split", {mixed, b.ints("split", {half, half})}, 2, {{"axis", int64_t{1}}});
  for (int64_t i = 0; i < blocks; ++i) {
    std::string y = conv_bn_silu(b, parts.back(), {half, half, 3, 1}, true);
    y = conv_bn_silu(b, y, {half, half, 3, 1}, true);
    parts.push_back(shortcut ? b.node("Add", {parts.back(), y}) : y);
  }
  const std::string cat = b.node("Concat", parts, {{"axis", int64_t{1}}});
  return conv_bn_silu(b, cat, {static_cast<int64_t>(parts.size()) * half, out, 1, 1}, true);
}

std::string sppf(ModelBuilder& b, const std::string& x, int64_t channels) {
  const int64_t hidden = channels / 2;
  std::vector<std::string> parts = {conv_bn_silu(b, x, {channels, hidden, 1, 1}, true)};
  for (int i = 0; i < 3; ++i) {
    parts.push_back(b.node("MaxPool", {parts.back()},
                           {{"kernel_shape", std::vector<int64_t>{5, 5}},
                            {"strides", std::vector<int64_t>{1, 1}},
                            {"pads", std::vector<int64_t>{2, 2, 2, 2}}}));
  }
  return conv_bn_silu(b, b.node("Concat", parts, {{"axis", int64_t{1}}}),
                      {4 * hidden, channels, 1, 1}, true);
}

std::string upsample2x(ModelBuilder& b, const std::string& x) {
  return b.node("Resize", {x, "", b.floats("scales", {4}, {1.0f, 1.0f, 2.0f, 2.0f})},
                {{"mode", std::string("nearest")},
                 {"coordinate_transformation_mode", std::string("asymmetric")},
                 {"nearest_mode", std::string("floor")}});
}

// One detection scale: box and class branches, flattened to [1, outputs, H*W].
std::string detect_head(ModelBuilder& b, const std::string& x, int64_t in, int64_t outputs) {
  std::string y = conv_bn_silu(b, x, {in, 64, 3, 1}, true);
  y = conv_bn_silu(b, y, {64, 64, 3, 1}, true);
  y = conv(b, y, {64, outputs, 1, 1});
  return b.node("Reshape", {y, b.ints("head_shape", {1, outputs, -1})});
}

}  // namespace

void build_efficientnet(const std::string& dir) {
  ModelBuilder b("efficientnet_b0", 7);
  std::string x = b.input("image", kFloat, {int64_t{1}, int64_t{3}, int64_t{224}, int64_t{224}});
  x = conv_bn_silu(b, x, {3, 32, 3, 2}, true);
  struct Stage {
    int64_t expand, out, repeats, stride, kernel;
  };
  // EfficientNet-B0's stages.
  const Stage stages[] = {{1, 16, 1, 1, 3},  {6, 24, 2, 2, 3},  {6, 40, 2, 2, 5}, {6, 80, 3, 2, 3},
                          {6, 112, 3, 1, 5}, {6, 192, 4, 2, 5}, {6, 320, 1, 1, 3}};
  int64_t channels = 32;
  for (const Stage& s : stages) {
    for (int64_t i = 0; i < s.repeats; ++i) {
      x = mbconv(b, x, channels, s.out, s.expand, s.kernel, i == 0 ? s.stride : 1);
      channels = s.out;
    }
  }
  x = conv_bn_silu(b, x, {channels, 1280, 1, 1}, true);
  x = b.node("Flatten", {b.node("GlobalAveragePool", {x})}, {{"axis", int64_t{1}}});
  x = b.node("Gemm",
             {x, b.fan_in_weight("fc_w", {1000, 1280}, 1280), b.weight("fc_b", {1000}, 0.05f)},
             {{"transB", int64_t{1}}});
  b.output(x, "logits");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"image"}, {random_floats(b.rng(), {1, 3, 224, 224}, -1.0f, 1.0f)});
}

void build_convnext(const std::string& dir) {
  ModelBuilder b("convnext", 11);
  std::string x = b.input("image", kFloat, {int64_t{1}, int64_t{3}, int64_t{224}, int64_t{224}});
  // ConvNeXt-Tiny's widths with fewer blocks per stage (Tiny has 3, 3, 9, 3).
  const int64_t dims[] = {96, 192, 384, 768}, depths[] = {1, 1, 3, 1};
  x = channels_first_layer_norm(b, patchify(b, x, 3, dims[0], 4), dims[0]);
  for (int stage = 0; stage < 4; ++stage) {
    if (stage > 0) {
      x = channels_first_layer_norm(b, x, dims[stage - 1]);
      x = patchify(b, x, dims[stage - 1], dims[stage], 2);
    }
    for (int64_t i = 0; i < depths[stage]; ++i) x = convnext_block(b, x, dims[stage]);
  }
  x = b.node("ReduceMean", {x}, {{"axes", std::vector<int64_t>{2, 3}}, {"keepdims", int64_t{0}}});
  x = layer_norm(b, x, dims[3]);
  b.output(linear(b, x, dims[3], 1000), "logits");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"image"}, {random_floats(b.rng(), {1, 3, 224, 224}, -1.0f, 1.0f)});
}

void build_yolo(const std::string& dir) {
  ModelBuilder b("yolo", 8);
  std::string x = b.input("image", kFloat, {int64_t{1}, int64_t{3}, int64_t{320}, int64_t{320}});
  // YOLOv8n's backbone: widths 16..256, C2f depths 1, 2, 2, 1.
  x = conv_bn_silu(b, x, {3, 16, 3, 2}, true);
  x = conv_bn_silu(b, x, {16, 32, 3, 2}, true);
  x = c2f(b, x, 32, 32, 1, true);
  x = conv_bn_silu(b, x, {32, 64, 3, 2}, true);
  const std::string p3 = c2f(b, x, 64, 64, 2, true);
  x = conv_bn_silu(b, p3, {64, 128, 3, 2}, true);
  const std::string p4 = c2f(b, x, 128, 128, 2, true);
  x = conv_bn_silu(b, p4, {128, 256, 3, 2}, true);
  const std::string p5 = sppf(b, c2f(b, x, 256, 256, 1, true), 256);
  // Neck: top-down with nearest upsampling, then bottom-up with strided convolutions.
  const std::string n4 =
      c2f(b, b.node("Concat", {upsample2x(b, p5), p4}, {{"axis", int64_t{1}}}), 384, 128, 1, false);
  const std::string n3 =
      c2f(b, b.node("Concat", {upsample2x(b, n4), p3}, {{"axis", int64_t{1}}}), 192, 64, 1, false);
  const std::string d4 = c2f(
      b, b.node("Concat", {conv_bn_silu(b, n3, {64, 64, 3, 2}, true), n4}, {{"axis", int64_t{1}}}),
      192, 128, 1, false);
  const std::string d5 = c2f(
      b,
      b.node("Concat", {conv_bn_silu(b, d4, {128, 128, 3, 2}, true), p5}, {{"axis", int64_t{1}}}),
      384, 256, 1, false);
  const int64_t outputs = 64 + 80;  // box distribution + class scores
  const std::string heads =
      b.node("Concat",
             {detect_head(b, n3, 64, outputs), detect_head(b, d4, 128, outputs),
              detect_head(b, d5, 256, outputs)},
             {{"axis", int64_t{2}}});
  b.output(heads, "detections");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"image"}, {random_floats(b.rng(), {1, 3, 320, 320}, 0.0f, 1.0f)});
}

}  // namespace zoo
