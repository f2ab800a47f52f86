#include "layers.hpp"

#include <cmath>

namespace zoo {

std::string conv(ModelBuilder& b, const std::string& x, const ConvSpec& s) {
  const int64_t fan_in = s.in / s.group * s.kernel * s.kernel;
  std::vector<std::string> inputs = {
      x, b.fan_in_weight("conv_w", {s.out, s.in / s.group, s.kernel, s.kernel}, fan_in)};
  if (s.bias) inputs.push_back(b.weight("conv_b", {s.out}, 0.05f));
  const int64_t pad = s.kernel / 2;
  return b.node("Conv", inputs,
                {{"kernel_shape", std::vector<int64_t>{s.kernel, s.kernel}},
                 {"strides", std::vector<int64_t>{s.stride, s.stride}},
                 {"pads", std::vector<int64_t>{pad, pad, pad, pad}},
                 {"group", s.group}});
}

std::string batch_norm(ModelBuilder& b, const std::string& x, int64_t c) {
  return b.node("BatchNormalization",
                {x, b.uniform("bn_scale", {c}, 0.5f, 1.0f), b.weight("bn_bias", {c}, 0.1f),
                 b.weight("bn_mean", {c}, 0.1f), b.uniform("bn_var", {c}, 0.5f, 1.5f)},
                {{"epsilon", 1e-5f}});
}

std::string relu(ModelBuilder& b, const std::string& x) {
  return b.node("Relu", {x});
}

std::string silu(ModelBuilder& b, const std::string& x) {
  return b.node("Mul", {x, b.node("Sigmoid", {x})});
}

std::string gelu_erf(ModelBuilder& b, const std::string& x) {
  const std::string erf = b.node("Erf", {b.node("Div", {x, b.scalar("sqrt2", std::sqrt(2.0f))})});
  const std::string one_plus = b.node("Add", {erf, b.scalar("one", 1.0f)});
  return b.node("Mul", {b.node("Mul", {x, one_plus}), b.scalar("half", 0.5f)});
}

std::string quick_gelu(ModelBuilder& b, const std::string& x) {
  return b.node("Mul", {x, b.node("Sigmoid", {b.node("Mul", {x, b.scalar("gelu_k", 1.702f)})})});
}

std::string hard_swish(ModelBuilder& b, const std::string& x) {
  return b.node("HardSwish", {x});
}

std::string linear(ModelBuilder& b, const std::string& x, int64_t in, int64_t out, bool bias) {
  std::string y = b.node("MatMul", {x, b.fan_in_weight("linear_w", {in, out}, in * 2)});
  if (bias) y = b.node("Add", {y, b.weight("linear_b", {out}, 0.05f)});
  return y;
}

std::string layer_norm(ModelBuilder& b, const std::string& x, int64_t dim) {
  return b.node("LayerNormalization",
                {x, b.uniform("ln_scale", {dim}, 0.8f, 1.2f), b.weight("ln_bias", {dim}, 0.1f)},
                {{"axis", int64_t{-1}}, {"epsilon", 1e-5f}});
}

std::string group_norm(ModelBuilder& b, const std::string& x, int64_t channels, int64_t groups) {
  const std::string shape = b.node("Shape", {x});
  const std::string grouped = b.node("Reshape", {x, b.ints("gn_shape", {0, groups, -1})});
  const std::string normed =
      b.node("InstanceNormalization",
             {grouped, b.floats("gn_one", {groups}, std::vector<float>(groups, 1.0f)),
              b.floats("gn_zero", {groups}, std::vector<float>(groups, 0.0f))},
             {{"epsilon", 1e-5f}});
  const std::string back = b.node("Reshape", {normed, shape});
  const std::string scaled =
      b.node("Mul", {back, b.uniform("gn_scale", {channels, 1, 1}, 0.8f, 1.2f)});
  return b.node("Add", {scaled, b.weight("gn_bias", {channels, 1, 1}, 0.1f)});
}

static std::string split_heads(ModelBuilder& b, const std::string& x, int64_t heads,
                               int64_t head_dim, const std::vector<int64_t>& perm) {
  const std::string r = b.node("Reshape", {x, b.ints("heads_shape", {0, 0, heads, head_dim})});
  return b.node("Transpose", {r}, {{"perm", perm}});
}

std::string attention(ModelBuilder& b, const std::string& query_in, const std::string& kv_in,
                      int64_t dim, int64_t kv_dim, int64_t heads, const std::string& mask) {
  const int64_t head_dim = dim / heads;
  const std::string q =
      split_heads(b, linear(b, query_in, dim, dim), heads, head_dim, {0, 2, 1, 3});
  const std::string k =
      split_heads(b, linear(b, kv_in, kv_dim, dim), heads, head_dim, {0, 2, 3, 1});
  const std::string v =
      split_heads(b, linear(b, kv_in, kv_dim, dim), heads, head_dim, {0, 2, 1, 3});
  std::string scores =
      b.node("Mul", {b.node("MatMul", {q, k}),
                     b.scalar("attn_scale", 1.0f / std::sqrt(static_cast<float>(head_dim)))});
  if (!mask.empty()) scores = b.node("Add", {scores, mask});
  const std::string probs = b.node("Softmax", {scores}, {{"axis", int64_t{-1}}});
  const std::string ctx = b.node("Transpose", {b.node("MatMul", {probs, v})},
                                 {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  const std::string merged = b.node("Reshape", {ctx, b.ints("merge_shape", {0, 0, dim})});
  return linear(b, merged, dim, dim);
}

std::string image_to_sequence(ModelBuilder& b, const std::string& x) {
  const std::string flat = b.node("Reshape", {x, b.ints("flat_shape", {0, 0, -1})});
  return b.node("Transpose", {flat}, {{"perm", std::vector<int64_t>{0, 2, 1}}});
}

std::string sequence_to_image(ModelBuilder& b, const std::string& x, int64_t channels,
                              int64_t height, int64_t width) {
  const std::string t = b.node("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 2, 1}}});
  return b.node("Reshape", {t, b.ints("image_shape", {0, channels, height, width})});
}

std::string sequence_to_image_like(ModelBuilder& b, const std::string& x,
                                   const std::string& image) {
  const std::string t = b.node("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 2, 1}}});
  return b.node("Reshape", {t, b.node("Shape", {image})});
}

namespace {

std::string mlp(ModelBuilder& b, const std::string& x, const EncoderSpec& s) {
  const std::string h = linear(b, x, s.dim, s.mlp);
  return linear(b, s.quick_gelu ? quick_gelu(b, h) : gelu_erf(b, h), s.mlp, s.dim);
}

}  // namespace

std::string encoder_layer(ModelBuilder& b, std::string x, const EncoderSpec& s,
                          const std::string& mask) {
  if (s.pre_norm) {
    const std::string n1 = layer_norm(b, x, s.dim);
    x = b.node("Add", {x, attention(b, n1, n1, s.dim, s.dim, s.heads, mask)});
    return b.node("Add", {x, mlp(b, layer_norm(b, x, s.dim), s)});
  }
  x = layer_norm(b, b.node("Add", {x, attention(b, x, x, s.dim, s.dim, s.heads, mask)}), s.dim);
  return layer_norm(b, b.node("Add", {x, mlp(b, x, s)}), s.dim);
}

std::string embed(ModelBuilder& b, const std::string& ids, int64_t rows, int64_t dim) {
  return b.node("Gather", {b.weight("embedding", {rows, dim}, 1.0f), ids});
}

}  // namespace zoo
