// Stable-Diffusion-style networks: a UNet denoiser and a VAE decoder, scaled down in width and
// depth but built from the same blocks.

#include <cmath>

#include "diffusion_blocks.hpp"
#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int64_t kGroups = 32;
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
