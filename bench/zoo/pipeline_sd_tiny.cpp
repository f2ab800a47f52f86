// sd-tiny: a Stable Diffusion 1.x pipeline folder in the diffusers ONNX layout (as Optimum's
// export writes it) with the same kinds of networks scaled down to a few channels and random
// weights: a CLIP-style text encoder (int32 input_ids), a UNet with down/up blocks, time
// embedding and cross-attention (int64 timestep, any even latent size), a VAE decoder and
// encoder, a byte-level BPE tokenizer with merges for a small English vocabulary, and SD 1.5's
// scheduler configuration. Images from it are structured noise; it exists so the whole
// pipeline can be run and checked in seconds.

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "diffusion_blocks.hpp"
#include "layers.hpp"
#include "pipeline_common.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;
constexpr int64_t kSequence = 77, kContext = 64, kGroups = 32;

void build_unet(const std::filesystem::path& dir) {
  const int64_t temb_dim = 128;
  ModelBuilder b("unet", 202);
  const std::string sample =
      b.input("sample", kFloat,
              {std::string("batch"), int64_t{4}, std::string("height"), std::string("width")});
  const std::string timestep = b.input("timestep", kInt64, {int64_t{1}});
  const std::string context =
      b.input("encoder_hidden_states", kFloat, {std::string("batch"), kSequence, kContext});
  const std::string t = b.node("Cast", {timestep}, {{"to", int64_t{kFloat}}});
  const std::string temb = timestep_embedding(b, t, 16, temb_dim);
  std::string x = conv3(b, sample, 4, 32);
  x = res_block(b, x, 32, 32, temb, temb_dim);
  x = spatial_transformer(b, x, 32, 0, context, kContext);
  const std::string skip1 = x;
  x = conv(b, x, {32, 32, 3, 2});
  x = res_block(b, x, 32, 64, temb, temb_dim);
  x = spatial_transformer(b, x, 64, 0, context, kContext);
  const std::string skip2 = x;
  x = res_block(b, x, 64, 64, temb, temb_dim);  // middle
  x = b.node("Concat", {x, skip2}, {{"axis", int64_t{1}}});
  x = res_block(b, x, 128, 64, temb, temb_dim);
  x = upsample(b, x, 64);
  x = b.node("Concat", {x, skip1}, {{"axis", int64_t{1}}});
  x = res_block(b, x, 96, 32, temb, temb_dim);
  x = spatial_transformer(b, x, 32, 0, context, kContext);
  x = conv3(b, silu(b, group_norm(b, x, 32, kGroups)), 32, 4);
  b.output(x, "out_sample");
  std::filesystem::create_directories(dir);
  b.save((dir / "model.onnx").string());
}

void build_vae_decoder(const std::filesystem::path& dir) {
  ModelBuilder b("vae_decoder", 203);
  const std::string z = b.input("latent_sample", kFloat,
                                {std::string("batch"), int64_t{4}, std::string("latent_height"),
                                 std::string("latent_width")});
  std::string x = conv(b, z, {4, 4, 1, 1});  // post-quant convolution
  x = conv3(b, x, 4, 64);
  x = res_block(b, x, 64, 64);
  const std::string n = image_to_sequence(b, group_norm(b, x, 64, kGroups));
  x = b.node("Add", {x, sequence_to_image_like(b, attention(b, n, n, 64, 64, 1), x)});
  x = res_block(b, x, 64, 64);
  const int64_t widths[4] = {64, 64, 32, 32};
  int64_t channels = 64;
  for (int i = 0; i < 4; ++i) {
    x = res_block(b, x, channels, widths[i]);
    channels = widths[i];
    if (i < 3) x = upsample(b, x, channels);
  }
  x = conv3(b, silu(b, group_norm(b, x, channels, kGroups)), channels, 3);
  b.output(x, "sample");
  std::filesystem::create_directories(dir);
  b.save((dir / "model.onnx").string());
}

// Image -> the latent distribution's mean and log-variance (8 channels), as Optimum's current
// export names it (latent_parameters).
void build_vae_encoder(const std::filesystem::path& dir) {
  ModelBuilder b("vae_encoder", 204);
  const std::string image =
      b.input("sample", kFloat,
              {std::string("batch"), int64_t{3}, std::string("height"), std::string("width")});
  std::string x = conv3(b, image, 3, 32);
  const int64_t widths[3] = {32, 64, 64};
  int64_t channels = 32;
  for (int64_t w : widths) {
    x = res_block(b, x, channels, w);
    channels = w;
    x = conv(b, x, {channels, channels, 3, 2});
  }
  x = res_block(b, x, channels, channels);
  x = conv3(b, silu(b, group_norm(b, x, channels, kGroups)), channels, 8);
  x = conv(b, x, {8, 8, 1, 1});  // quant convolution
  b.output(x, "latent_parameters");
  std::filesystem::create_directories(dir);
  b.save((dir / "model.onnx").string());
}

}  // namespace

void build_sd_tiny(const std::string& out) {
  const std::filesystem::path dir(out);
  const int64_t vocab = write_bpe_tokenizer(dir / "tokenizer");
  build_clip_text_encoder(dir / "text_encoder", {vocab, kContext, 2, 2, 201});
  build_unet(dir / "unet");
  build_vae_decoder(dir / "vae_decoder");
  build_vae_encoder(dir / "vae_encoder");
  write_pipeline_configs(dir);
}

}  // namespace zoo
