// sinter's image generation: Stable Diffusion pipelines in the diffusers ONNX layout
// (model_index.json, text_encoder/, unet/, vae_decoder/, vae_encoder/, tokenizer/,
// scheduler/), run on sinter's devices with diffusers' numerics and A1111's conventions
// (sampler names, prompt syntax, seeds, PNG infotext).
//
//   sinter::Core core;
//   auto pipe = sinter::diffusion::Pipeline::load(core, "sd-tiny", {});
//   sinter::diffusion::GenerationParams p;
//   p.prompt = "a photo of a cat";
//   auto result = pipe.generate(p);
//   sinter::diffusion::write_png("cat.png", result.images[0], result.infotexts[0]);
#pragma once

#include <sinter/core.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sinter::diffusion {

// 8-bit RGB, rows top to bottom.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
};

struct GenerationParams {
  std::string prompt;
  std::string negative_prompt;
  std::string sampler = "Euler a";  // A1111's name, case-insensitive (known_samplers())
  std::string schedule = "normal";  // normal, karras, exponential, sgm_uniform
  int steps = 20;                   // 1..1000
  double cfg_scale = 7.0;           // classifier-free guidance; 1 (or less) turns it off
  int64_t seed = -1;                // -1: pick one (reported in the result)
  int width = 512, height = 512;    // multiples of 8
  int batch_size = 1;               // image i uses seed + i, as A1111 does
  std::string rng = "nv";           // nv (torch on NVIDIA, A1111's default) or cpu (torch's CPU)
  // Start from these latents [batch, 4, height / 8, width / 8] (times the sampler's initial
  // sigma, as diffusers does) instead of seeded noise.
  std::optional<std::vector<float>> latents;
  bool decode = true;  // false: stop at the final latents (no VAE decode)
  // Decode (and encode an init image) in overlapping tiles of 512 pixels blended at the seams
  // (diffusers' tiled decode and encode): the VAE's memory is that of one tile, so large images
  // fit; output near the seams differs slightly from a run in one piece. On by itself from
  // 1024x1024 (a million pixels) up.
  bool vae_tiling = false;
  // img2img: start from this image (resized to width x height) encoded by the VAE encoder and
  // noised to the level of step steps - int(steps * strength), as diffusers' img2img does;
  // strength 0 returns the image's VAE round trip, 1 ignores it.
  std::optional<Image> init_image;
  double strength = 0.75;
  // What a cancel does: false throws (nothing half is returned); true stops sampling after the
  // current step and decodes the latents reached, as A1111's /interrupt does
  // (GenerationResult::interrupted tells).
  bool decode_when_interrupted = false;
};

struct StageReport {
  // "text encoder", "unet", "vae decoder"; or "compile unet for sample 2x4x64x64" for a
  // compile this generation needed (runs 0): the first at a size, once per Pipeline.
  std::string stage;
  std::string device;  // the devices that ran it, e.g. "CPU"
  double seconds = 0;
  int runs = 0;  // inferences (the UNet: one per step)
};

struct GenerationResult {
  std::vector<Image> images;           // empty when params.decode is false
  std::vector<float> latents;          // the final latents, [batch, 4, h / 8, w / 8]
  std::vector<int64_t> latent_shape;   // {batch, 4, h / 8, w / 8}
  std::vector<int64_t> seeds;          // per image
  std::vector<std::string> infotexts;  // A1111's "parameters" text per image
  std::vector<StageReport> stages;
  double seconds = 0;
  bool interrupted = false;  // cancelled with decode_when_interrupted: fewer steps than asked
};

struct StepProgress {
  int step = 0, steps = 0;  // step finished (1-based) of steps
  double elapsed_seconds = 0;
  // The latents after this step (batch x 4 x latent_height x latent_width); valid only during
  // the callback, for live previews (latent_preview).
  const std::vector<float>* latents = nullptr;
  int64_t latent_height = 0, latent_width = 0;
};

struct PipelineOptions {
  std::string text_encoder_device = "CPU";
  std::string unet_device = "CPU";
  std::string vae_device = "CPU";
  // Whether the compiled text encoder stays loaded after a generation has encoded its prompts.
  // A process that generates once (the CLI) lets it go: its weights (SD 1.5's CLIP ViT-L: 340
  // MiB resident) are then not held through the UNet loop and the VAE decode, and a further
  // generation compiles it again from the model cache (a fraction of a second). A server
  // keeps it.
  bool keep_text_encoder = true;
  // Whether the compiled UNet stays loaded once the denoising loop is done. A process that
  // generates once lets it go before the VAE decode, which then runs beside the VAE's weights
  // alone (SD 1.5 in f32 at 512x512: 3.3 GiB of UNet weights not held through the decoder's
  // 1 GiB of working memory). A server keeps it.
  bool keep_unet = true;
};

// What a generation needs in memory, planned before anything is allocated: every sub-model's
// weights stay loaded (they are compiled once and kept; the text encoder's only until the
// prompts are encoded where PipelineOptions::keep_text_encoder is off, the UNet's only until
// the denoising loop ends where keep_unet is off), the stages' intermediate values one stage at
// a time (they run in turn), so the peak is the weights held during the largest stage plus its
// intermediate values.
struct MemoryPlan {
  struct Stage {
    std::string name;
    int64_t weight_bytes = 0;
    int64_t activation_bytes = 0;     // intermediate values and inputs at this size and batch
    bool released_after_use = false;  // its weights are not held through the later stages
  };
  std::vector<Stage> stages;
  // What the process held when planning (libraries, heap, tokenizer; the models mapped but not
  // resident): part of the peak; the machine's available memory does not count it.
  int64_t process_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t limit_bytes = 0;  // the memory_limit setting, else the CPU's available memory
  std::string limit_source;
  // "this process 80.0 MiB + text encoder 0.5 GiB weights + unet 3.3 GiB weights + ... = peak
  // 6.2 GiB of 5.0 GiB available"
  std::string describe() const;
};

class Pipeline {
 public:
  // Reads the folder (configs, tokenizer, the sub-models' graphs). Throws sinter::Error naming
  // the missing or malformed file.
  static Pipeline load(const Core& core, const std::string& folder, const PipelineOptions& options);
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;

  // Checks the parameters (one-line errors, nothing run), compiles the UNet and VAE for the
  // size on first use, and generates. `on_step` is called after every sampler step; `cancel`
  // set to true stops after the current step (sinter::Error "cancelled").
  GenerationResult generate(const GenerationParams& params,
                            const std::function<void(const StepProgress&)>& on_step = {},
                            const std::atomic<bool>* cancel = nullptr);

  // Throws sinter::Error (invalid_argument) for parameters generate() would refuse.
  void validate(const GenerationParams& params) const;
  // The memory a generation with these parameters needs (generate() refuses with
  // out_of_memory, naming the numbers and a size that would fit, when it exceeds the limit).
  MemoryPlan plan_memory(const GenerationParams& params) const;
  // The A1111 token count of a prompt (its chunks of 75) and the ids of each chunk.
  std::pair<int, std::vector<std::vector<int>>> tokenize(const std::string& prompt) const;
  // The folder's name (A1111's "Model") and short hash (first 10 hex digits of the UNet
  // file's SHA-256, as A1111 hashes a checkpoint).
  // How each sub-model was read: "unet: converted from ONNX and cached (first use)" or
  // "unet: mapped from the model cache" (or "read, model cache off").
  const std::vector<std::string>& load_report() const;
  const std::string& model_name() const;
  const std::string& model_hash() const;

 private:
  struct Impl;
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A quick look at one image's latents (4 x height x width) without the VAE: each latent pixel
// mapped to RGB by A1111's "Approx cheap" linear fit for SD 1.x/2.x latents, at latent
// resolution (1/8 of the image's size).
Image latent_preview(const float* latents, int64_t height, int64_t width);

// A1111's sampler names (those generate() accepts).
std::vector<std::string> known_samplers();

// Reads a PNG (any colour type or depth) as 8-bit RGB. Throws sinter::Error naming the file.
Image read_png(const std::string& path);
// The same from the file's bytes; `what` names the image in errors.
Image decode_png(const std::string& bytes, const std::string& what);
// The "parameters" text chunk (A1111's infotext) of a PNG's bytes; "" when it has none.
std::string png_parameters(const std::string& bytes, const std::string& what);

// Writes an 8-bit RGB PNG with a "parameters" text chunk (A1111's PNG Info reads it). Written
// to a temporary file and renamed, so a failure leaves no half file.
void write_png(const std::string& path, const Image& image, const std::string& parameters);
// The PNG file's bytes, as write_png writes them.
std::string encode_png(const Image& image, const std::string& parameters);

}  // namespace sinter::diffusion
