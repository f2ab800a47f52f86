// sd15: Stable Diffusion 1.5's architecture at full size with random weights, in the diffusers
// ONNX layout (external data next to each large model): CLIP ViT-L/14's text encoder (12
// layers, 768 wide, 49408 tokens), the UNet (320/640/1280/1280 channels, two ResNet blocks per
// level, transformer blocks with 8 heads, GEGLU and 768-wide cross-attention on the first three
// levels and in the middle), the VAE decoder (512/512/256/128) and encoder. For measuring speed
// and memory at the real size (docs/benchmarks.md); the images are noise and it is not built by
// `make test` (about 4.3 GB).

#include <filesystem>
#include <vector>

#include "diffusion_blocks.hpp"
#include "layers.hpp"
#include "pipeline_common.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;
constexpr int64_t kGroups = 32, kContext = 768, kTime = 1280, kHeads = 8;

void build_unet(const std::filesystem::path& dir) {
  ModelBuilder b("unet", 302);
  const std::string sample =
      b.input("sample", kFloat,
              {std::string("batch"), int64_t{4}, std::string("height"), std::string("width")});
  const std::string timestep = b.input("timestep", kInt64, {int64_t{1}});
  const std::string context =
      b.input("encoder_hidden_states", kFloat, {std::string("batch"), int64_t{77}, kContext});
  const std::string temb =
      timestep_embedding(b, b.node("Cast", {timestep}, {{"to", int64_t{kFloat}}}), 160, kTime);
  const int64_t widths[4] = {320, 640, 1280, 1280};
  const bool attention[4] = {true, true, true, false};
  std::string x = conv3(b, sample, 4, 320);
  int64_t channels = 320;
  std::vector<std::pair<std::string, int64_t>> skips = {{x, channels}};
  for (int level = 0; level < 4; ++level) {
    for (int r = 0; r < 2; ++r) {
      x = res_block(b, x, channels, widths[level], temb, kTime);
      channels = widths[level];
      if (attention[level]) x = sd_transformer(b, x, channels, kHeads, context, kContext);
      skips.emplace_back(x, channels);
    }
    if (level < 3) {
      x = conv(b, x, {channels, channels, 3, 2});
      skips.emplace_back(x, channels);
    }
  }
  x = res_block(b, x, channels, channels, temb, kTime);
  x = sd_transformer(b, x, channels, kHeads, context, kContext);
  x = res_block(b, x, channels, channels, temb, kTime);
  for (int level = 3; level >= 0; --level) {
    for (int r = 0; r < 3; ++r) {
      const auto [skip, skip_channels] = skips.back();
      skips.pop_back();
      x = b.node("Concat", {x, skip}, {{"axis", int64_t{1}}});
      x = res_block(b, x, channels + skip_channels, widths[level], temb, kTime);
      channels = widths[level];
      if (attention[level]) x = sd_transformer(b, x, channels, kHeads, context, kContext);
    }
    if (level > 0) x = upsample(b, x, channels);
  }
  x = conv3(b, silu(b, group_norm(b, x, channels, kGroups)), channels, 4);
  b.output(x, "out_sample");
  std::filesystem::create_directories(dir);
  b.save((dir / "model.onnx").string(), true);
}

// The VAE's middle: a ResNet block, single-head self-attention over the pixels, another block.
std::string vae_middle(ModelBuilder& b, std::string x, int64_t c) {
  x = res_block(b, x, c, c);
  const std::string n = image_to_sequence(b, group_norm(b, x, c, kGroups));
  x = b.node("Add", {x, sequence_to_image_like(b, attention(b, n, n, c, c, 1), x)});
  return res_block(b, x, c, c);
}

void build_vae_decoder(const std::filesystem::path& dir) {
  ModelBuilder b("vae_decoder", 303);
  const std::string z = b.input("latent_sample", kFloat,
                                {std::string("batch"), int64_t{4}, std::string("latent_height"),
                                 std::string("latent_width")});
  std::string x = conv3(b, conv(b, z, {4, 4, 1, 1}), 4, 512);
  x = vae_middle(b, x, 512);
  const int64_t widths[4] = {512, 512, 256, 128};
  int64_t channels = 512;
  for (int level = 0; level < 4; ++level) {
    for (int r = 0; r < 3; ++r) {
      x = res_block(b, x, channels, widths[level]);
      channels = widths[level];
    }
    if (level < 3) x = upsample(b, x, channels);
  }
  x = conv3(b, silu(b, group_norm(b, x, channels, kGroups)), channels, 3);
  b.output(x, "sample");
  std::filesystem::create_directories(dir);
  b.save((dir / "model.onnx").string(), true);
}

void build_vae_encoder(const std::filesystem::path& dir) {
  ModelBuilder b("vae_encoder", 304);
  const std::string image =
      b.input("sample", kFloat,
              {std::string("batch"), int64_t{3}, std::string("height"), std::string("width")});
  std::string x = conv3(b, image, 3, 128);
  const int64_t widths[4] = {128, 256, 512, 512};
  int64_t channels = 128;
  for (int level = 0; level < 4; ++level) {
    for (int r = 0; r < 2; ++r) {
      x = res_block(b, x, channels, widths[level]);
      channels = widths[level];
    }
    if (level < 3) x = conv(b, x, {channels, channels, 3, 2});
  }
  x = vae_middle(b, x, channels);
  x = conv3(b, silu(b, group_norm(b, x, channels, kGroups)), channels, 8);
  b.output(conv(b, x, {8, 8, 1, 1}), "latent_parameters");
  std::filesystem::create_directories(dir);
  b.save((dir / "model.onnx").string(), true);
}

}  // namespace

void build_sd15(const std::string& out) {
  const std::filesystem::path dir(out);
  write_bpe_tokenizer(dir / "tokenizer");
  build_clip_text_encoder(dir / "text_encoder", {49408, 768, 12, 12, 301});
  build_unet(dir / "unet");
  build_vae_decoder(dir / "vae_decoder");
  build_vae_encoder(dir / "vae_encoder");
  write_pipeline_configs(dir);
}

}  // namespace zoo
