// Stable-Diffusion-style networks: a UNet denoiser and a VAE decoder, scaled down in width and
// depth but built from the same blocks.

#include <cmath>

#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int64_t kGroups = 32;

std::string conv3(ModelBuilder& b, const std::string& x, int64_t in, int64_t out) {
  return conv(b, x, {in, out, 3, 1});
}

// GroupNorm -> SiLU -> Conv, twice, with the time embedding added in between when given.
std::string res_block(ModelBuilder& b, const std::string& x, int64_t in, int64_t out,
                      const std::string& temb = "", int64_t temb_dim = 0) {
  std::string h = conv3(b, silu(b, group_norm(b, x, in, kGroups)), in, out);
  if (!temb.empty()) {
    const std::string t = linear(b, silu(b, temb), temb_dim, out);
    h = b.node("Add", {h, b.node("Unsqueeze", {t, b.ints("hw_axes", {2, 3})})});
  }
  h = conv3(b, silu(b, group_norm(b, h, out, kGroups)), out, out);
  const std::string skip = in != out ? conv(b, x, {in, out, 1, 1}) : x;
  return b.node("Add", {skip, h});
}

// Self-attention, cross-attention to the text context and a GELU MLP over image positions.
std::string spatial_transformer(ModelBuilder& b, const std::string& x, int64_t c, int64_t size,
                                const std::string& context, int64_t context_dim) {
  const int64_t heads = c / 32;
  std::string h = conv(b, group_norm(b, x, c, kGroups), {c, c, 1, 1});
  h = image_to_sequence(b, h);
  std::string n = layer_norm(b, h, c);
  h = b.node("Add", {h, attention(b, n, n, c, c, heads)});
  h = b.node("Add", {h, attention(b, layer_norm(b, h, c), context, c, context_dim, heads)});
  const std::string ff = linear(b, gelu_erf(b, linear(b, layer_norm(b, h, c), c, 4 * c)), 4 * c, c);
  h = b.node("Add", {h, ff});
  h = conv(b, sequence_to_image(b, h, c, size, size), {c, c, 1, 1});
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

}  // namespace

void build_unet(const std::string& dir) {
  const int64_t latent = 32, ctx_len = 16, ctx_dim = 128, temb_dim = 256;
  ModelBuilder b("unet", 1000);
  const std::string sample = b.input("sample", kFloat, {int64_t{1}, int64_t{4}, latent, latent});
  const std::string timestep = b.input("timestep", kFloat, {int64_t{1}});
  const std::string context =
      b.input("encoder_hidden_states", kFloat, {int64_t{1}, ctx_len, ctx_dim});
  const std::string temb = timestep_embedding(b, timestep, 32, temb_dim);

  std::string x = conv3(b, sample, 4, 64);
  x = res_block(b, x, 64, 64, temb, temb_dim);
  x = spatial_transformer(b, x, 64, latent, context, ctx_dim);
  const std::string skip1 = x;
  x = conv(b, x, {64, 64, 3, 2});
  x = res_block(b, x, 64, 128, temb, temb_dim);
  x = spatial_transformer(b, x, 128, latent / 2, context, ctx_dim);
  const std::string skip2 = x;

  x = res_block(b, x, 128, 128, temb, temb_dim);
  x = spatial_transformer(b, x, 128, latent / 2, context, ctx_dim);
  x = res_block(b, x, 128, 128, temb, temb_dim);

  x = b.node("Concat", {x, skip2}, {{"axis", int64_t{1}}});
  x = res_block(b, x, 256, 128, temb, temb_dim);
  x = spatial_transformer(b, x, 128, latent / 2, context, ctx_dim);
  x = upsample(b, x, 128);
  x = b.node("Concat", {x, skip1}, {{"axis", int64_t{1}}});
  x = res_block(b, x, 192, 64, temb, temb_dim);
  x = spatial_transformer(b, x, 64, latent, context, ctx_dim);

  x = conv3(b, silu(b, group_norm(b, x, 64, kGroups)), 64, 4);
  b.output(x, "noise_pred");
  b.save(dir + "/model.onnx");

  sinter::Tensor t(sinter::ElementType::f32, {1});
  t.data_as<float>()[0] = 981.0f;
  write_inputs(dir, {"sample", "timestep", "encoder_hidden_states"},
               {random_floats(b.rng(), {1, 4, latent, latent}, -1.0f, 1.0f), t,
                random_floats(b.rng(), {1, ctx_len, ctx_dim}, -1.0f, 1.0f)});
}

void build_vae_decoder(const std::string& dir) {
  const int64_t latent = 16;
  ModelBuilder b("vae_decoder", 8);
  const std::string z = b.input("latent", kFloat, {int64_t{1}, int64_t{4}, latent, latent});
  std::string x = conv(b, z, {4, 4, 1, 1});  // post-quant convolution
  x = conv3(b, x, 4, 128);

  x = res_block(b, x, 128, 128);
  const std::string n = image_to_sequence(b, group_norm(b, x, 128, kGroups));
  const std::string attended = attention(b, n, n, 128, 128, 1);
  x = b.node("Add", {x, sequence_to_image(b, attended, 128, latent, latent)});
  x = res_block(b, x, 128, 128);

  const int64_t widths[4] = {128, 128, 64, 32};
  int64_t channels = 128;
  for (int i = 0; i < 4; ++i) {
    x = res_block(b, x, channels, widths[i]);
    x = res_block(b, x, widths[i], widths[i]);
    channels = widths[i];
    if (i < 3) x = upsample(b, x, channels);
  }
  x = conv3(b, silu(b, group_norm(b, x, channels, kGroups)), channels, 3);
  b.output(x, "image");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"latent"}, {random_floats(b.rng(), {1, 4, latent, latent}, -2.0f, 2.0f)});
}

}  // namespace zoo
