// The blocks of Stable Diffusion's UNet and VAE, written as PyTorch exports them.

#include "diffusion_blocks.hpp"

#include <cmath>

#include "layers.hpp"

namespace zoo {

namespace {

constexpr int64_t kGroups = 32;

// Stable Diffusion's feed-forward as diffusers exports it (GEGLU): a product to 8c, split in
// halves along the last axis, the first times the erf-GELU of the second, a product back to c.
std::string geglu_feed_forward(ModelBuilder& b, const std::string& h, int64_t c) {
  const std::vector<std::string> parts = b.node_n(
      "Split", {linear(b, layer_norm(b, h, c), c, 8 * c), b.ints("geglu_split", {4 * c, 4 * c})}, 2,
      {{"axis", int64_t{-1}}});
  return linear(b, b.node("Mul", {parts[0], gelu_erf(b, parts[1])}), 4 * c, c);
}

}  // namespace

std::string conv3(ModelBuilder& b, const std::string& x, int64_t in, int64_t out) {
  return conv(b, x, {in, out, 3, 1});
}

// GroupNorm -> SiLU -> Conv, twice, with the time embedding added in between when given.
std::string res_block(ModelBuilder& b, const std::string& x, int64_t in, int64_t out,
                      const std::string& temb, int64_t temb_dim) {
  std::string h = conv3(b, silu(b, group_norm(b, x, in, kGroups)), in, out);
  if (!temb.empty()) {
    const std::string t = linear(b, silu(b, temb), temb_dim, out);
    h = b.node("Add", {h, b.node("Unsqueeze", {t, b.ints("hw_axes", {2, 3})})});
  }
  h = conv3(b, silu(b, group_norm(b, h, out, kGroups)), out, out);
  const std::string skip = in != out ? conv(b, x, {in, out, 1, 1}) : x;
  return b.node("Add", {skip, h});
}

// Self-attention, cross-attention to the text context and a GEGLU feed-forward over image
// positions.
std::string spatial_transformer(ModelBuilder& b, const std::string& x, int64_t c, int64_t size,
                                const std::string& context, int64_t context_dim) {
  const int64_t heads = c / 32;
  std::string h = conv(b, group_norm(b, x, c, kGroups), {c, c, 1, 1});
  h = image_to_sequence(b, h);
  std::string n = layer_norm(b, h, c);
  h = b.node("Add", {h, attention(b, n, n, c, c, heads)});
  h = b.node("Add", {h, attention(b, layer_norm(b, h, c), context, c, context_dim, heads)});
  h = b.node("Add", {h, geglu_feed_forward(b, h, c)});
  // A fixed size reshapes to constants; size 0 to the input's own shape (any resolution).
  h = size > 0 ? sequence_to_image(b, h, c, size, size) : sequence_to_image_like(b, h, x);
  h = conv(b, h, {c, c, 1, 1});
  return b.node("Add", {x, h});
}

std::string sd_transformer(ModelBuilder& b, const std::string& x, int64_t c, int64_t heads,
                           const std::string& context, int64_t context_dim) {
  std::string h = conv(b, group_norm(b, x, c, kGroups), {c, c, 1, 1});
  h = image_to_sequence(b, h);
  std::string n = layer_norm(b, h, c);
  h = b.node("Add", {h, attention(b, n, n, c, c, heads)});
  h = b.node("Add", {h, attention(b, layer_norm(b, h, c), context, c, context_dim, heads)});
  h = b.node("Add", {h, geglu_feed_forward(b, h, c)});
  h = conv(b, sequence_to_image_like(b, h, x), {c, c, 1, 1});
  return b.node("Add", {x, h});
}

// Nearest-neighbour 2x upsampling as PyTorch exports F.interpolate, then a 3x3 convolution.
std::string upsample(ModelBuilder& b, const std::string& x, int64_t c) {
  const std::string up =
      b.node("Resize", {x, "", b.floats("scales", {4}, {1.0f, 1.0f, 2.0f, 2.0f})},
             {{"mode", std::string("nearest")},
              {"coordinate_transformation_mode", std::string("asymmetric")},
              {"nearest_mode", std::string("floor")}});
  return conv3(b, up, c, c);
}

// Sinusoidal embedding of the timestep followed by a two-layer MLP.
std::string timestep_embedding(ModelBuilder& b, const std::string& t, int64_t half, int64_t dim) {
  std::vector<float> freqs(half);
  for (int64_t i = 0; i < half; ++i)
    freqs[i] = std::exp(-std::log(10000.0f) * static_cast<float>(i) / static_cast<float>(half));
  const std::string args = b.node(
      "Mul", {b.node("Unsqueeze", {t, b.ints("axis1", {1})}), b.floats("freqs", {half}, freqs)});
  const std::string emb =
      b.node("Concat", {b.node("Cos", {args}), b.node("Sin", {args})}, {{"axis", int64_t{-1}}});
  return linear(b, silu(b, linear(b, emb, 2 * half, dim)), dim, dim);
}

}  // namespace zoo
