// Pipeline: txt2img as diffusers' OnnxStableDiffusionPipeline runs it, with A1111's prompt
// handling (emphasis, 75-token chunks) and seeds (image i uses seed + i; "nv" or "cpu" noise).
#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include "diffusion/image/infotext.hpp"
#include "diffusion/image/resize.hpp"
#include "diffusion/pipeline/model_folder.hpp"
#include "diffusion/pipeline/tiling.hpp"
#include "diffusion/rng/noise.hpp"
#include "diffusion/schedulers/scheduler.hpp"
#include "diffusion/tokenizer/clip_tokenizer.hpp"
#include "diffusion/tokenizer/prompt_parser.hpp"

namespace sinter::diffusion {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : separator) + p;
  return s;
}

// When a stage runs in a generation: the prompts are encoded, an init image (img2img) is
// encoded, the UNet denoises, the VAE decodes. A stage let go after it ran is not held by the
// stages after it.
int run_order(const std::string& stage) {
  if (stage == "text encoder") return 0;
  if (stage == "vae encoder") return 1;
  if (stage == "unet") return 2;
  return 3;  // vae decoder
}

const PortInfo& find_input(const Model& model, const std::string& name, const std::string& stage) {
  for (const PortInfo& p : model.inputs())
    if (p.name == name) return p;
  std::vector<std::string> names;
  for (const PortInfo& p : model.inputs()) names.push_back(p.name);
  throw Error(ErrorCategory::invalid_model,
              stage + " model has no input '" + name + "' (its inputs: " + join(names, ", ") + ")");
}

// Each image's noise from its own generator: image i of a batch draws from seed + i.
class BatchNoise final : public NoiseSource {
 public:
  BatchNoise(const std::string& kind, const std::vector<int64_t>& seeds) {
    for (int64_t s : seeds) sources_.push_back(make_noise_source(kind, static_cast<uint64_t>(s)));
  }
  std::vector<float> randn(std::size_t count) override {
    const std::size_t per_image = count / sources_.size();
    std::vector<float> out;
    out.reserve(count);
    for (auto& s : sources_) {
      const std::vector<float> part = s->randn(per_image);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

 private:
  std::vector<std::unique_ptr<NoiseSource>> sources_;
};

// The guidance scale w as LCM UNets take it (diffusers' get_guidance_scale_embedding): w * 1000
// through `width` sinusoids, sines then cosines, zero-padded to an odd width.
std::vector<float> guidance_scale_embedding(double w, int64_t width) {
  const int64_t half = width / 2;
  std::vector<float> e(static_cast<std::size_t>(width), 0.0f);
  const float step = half > 1 ? std::log(10000.0f) / static_cast<float>(half - 1) : 0.0f;
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(w * 1000.0) * std::exp(static_cast<float>(i) * -step);
    e[i] = std::sin(angle);
    e[half + i] = std::cos(angle);
  }
  return e;
}

Tensor float_tensor(const Shape& shape, const std::vector<float>& values) {
  Tensor t(ElementType::f32, shape);
  std::copy(values.begin(), values.end(), t.data_as<float>());
  return t;
}

std::vector<float> float_values(const Tensor& t, const std::string& what) {
  if (t.element_type() != ElementType::f32)
    throw Error(ErrorCategory::invalid_model,
                what + " is " + to_string(t.element_type()) + ", expected f32");
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.element_count());
}

}  // namespace

struct Pipeline::Impl {
  Core core;
  ModelFolder folder;
  PipelineOptions options;
  ClipTokenizer tokenizer;
  Model text_encoder, unet, vae_decoder;
  // Read on first use (img2img): txt2img neither maps nor converts it.
  mutable std::optional<Model> vae_encoder_model;
  std::map<std::string, CompiledModel> compiled;
  std::string name, hash;
  mutable std::vector<std::string> load_report;
  // A guidance-distilled UNet's (LCM) input for the guidance scale embedding, else null.
  const PortInfo* guidance_port = nullptr;

  Impl(const Core& c, ModelFolder f, const PipelineOptions& o)
      : core(c),
        folder(std::move(f)),
        options(o),
        tokenizer(ClipTokenizer::load(folder.tokenizer)),
        text_encoder(core.read_model(folder.text_encoder.string())),
        unet(core.read_model(folder.unet.string())),
        vae_decoder(core.read_model(folder.vae_decoder.string())) {
    name = folder.root.filename().string();
    if (name.empty()) name = folder.root.parent_path().filename().string();
    hash = short_hash(folder.unet);
    note("text encoder", text_encoder);
    note("unet", unet);
    note("vae decoder", vae_decoder);
    for (const PortInfo& port : unet.inputs())
      if (port.name == "timestep_cond") guidance_port = &port;
    find_input(text_encoder, "input_ids", "text encoder");
    find_input(unet, "sample", "UNet");
    find_input(unet, "timestep", "UNet");
    find_input(unet, "encoder_hidden_states", "UNet");
  }

  // Compiles made by the current generate(): stage, device and seconds, so the summary says
  // when a size was compiled (once per size; the model cache keeps it for later processes).
  std::vector<StageReport> compiles;

  // Whether the UNet runs on [negative, prompt] (classifier-free guidance above 1): not for a
  // guidance-distilled UNet, which takes the scale as an embedding and reads the prompt alone.
  bool runs_guidance_batch(const GenerationParams& p) const {
    return p.cfg_scale > 1.0 && !guidance_port;
  }

  // How a sub-model was read (the cache entry is written by its compile, which follows).
  void note(const char* stage, const Model& m) const {
    load_report.push_back(std::string(stage) + ": " +
                          (m.format() == "sinter" ? "mapped from its .sinter file"
                           : m.read_from_cache()  ? "mapped from the model cache"
                           : core.config().cache_enabled()
                               ? "converted from ONNX and cached (first use)"
                               : "read (model cache off)"));
  }

  const Model& vae_encoder() const {
    if (!vae_encoder_model) {
      vae_encoder_model = core.read_model(folder.vae_encoder.string());
      note("vae encoder", *vae_encoder_model);
    }
    return *vae_encoder_model;
  }

  // One compile per stage and input shapes.
  // Each stage's working memory goes back once the stage has run: the next stage is another
  // model, and the arenas kept for a next run would all be held at the last stage's peak
  // (SD 1.5 at 512x512: the UNet's 200 MiB through the VAE decode). Faulting them in again
  // at the next generation costs little (large_blocks.hpp: huge pages).
  void release_working_memory() const {
    for (const auto& [key, m] : compiled) m.release_working_memory();
  }

  // Whether a stage's compiled models go once it has run (keep_text_encoder or keep_unet
  // off): what generate() does and what plan_memory() counts.
  bool released_after_use(const std::string& stage) const {
    return (stage == "text encoder" && !options.keep_text_encoder) ||
           (stage == "unet" && !options.keep_unet);
  }

  // Lets a stage's compiled models go: their packed weights are unmapped with them; the next
  // generation compiles them again from the model cache.
  void release_stage(const std::string& stage) {
    const std::string prefix = stage + "@";
    for (auto it = compiled.begin(); it != compiled.end();)
      it = it->first.rfind(prefix, 0) == 0 ? compiled.erase(it) : std::next(it);
  }

  const CompiledModel& compiled_for(const std::string& stage, const Model& model,
                                    const std::string& device,
                                    const std::map<std::string, Shape>& shapes) {
    std::string key = stage + "@" + device;
    for (const auto& [n, s] : shapes) {
      key += " " + n + "=";
      for (int64_t d : s) key += std::to_string(d) + ",";
    }
    auto it = compiled.find(key);
    if (it != compiled.end()) return it->second;
    const auto start = Clock::now();
    CompiledModel m = core.compile_model(model, device, shapes);
    // Named by its image input where it has one.
    auto first = shapes.find("sample");
    if (first == shapes.end()) first = shapes.begin();
    std::string size;
    for (int64_t d : first->second) size += (size.empty() ? "" : "x") + std::to_string(d);
    compiles.push_back({"compile " + stage + " for " + first->first + " " + size +
                            (m.loaded_from_cache() ? " (from the cache)" : ""),
                        join(m.execution_devices(), ","), seconds_since(start), 0});
    return compiled.emplace(key, std::move(m)).first->second;
  }

  // The text encoder's output for a prompt: its chunks encoded one by one, A1111's emphasis
  // applied (each token's vector times its weight, then rescaled to the chunk's original
  // mean), concatenated along the tokens: [chunks * 77, dim].
  std::vector<float> encode_prompt(const PromptChunks& chunks, int64_t& tokens, int64_t& dim,
                                   StageReport& report) {
    const PortInfo& ids_port = find_input(text_encoder, "input_ids", "text encoder");
    const int64_t length = tokenizer.max_length();
    const CompiledModel& m = compiled_for("text encoder", text_encoder, options.text_encoder_device,
                                          {{"input_ids", {1, length}}});
    InferRequest request = m.create_infer_request();
    std::vector<float> out;
    for (std::size_t c = 0; c < chunks.tokens.size(); ++c) {
      Tensor ids(ids_port.element_type, {1, length});
      for (int64_t k = 0; k < length; ++k) {
        if (ids_port.element_type == ElementType::i64)
          ids.data_as<int64_t>()[k] = chunks.tokens[c][k];
        else if (ids_port.element_type == ElementType::i32)
          ids.data_as<int32_t>()[k] = chunks.tokens[c][k];
        else
          throw Error(ErrorCategory::invalid_model,
                      "text encoder input_ids is " + std::string(to_string(ids_port.element_type)) +
                          ", expected i32 or i64");
      }
      const auto start = Clock::now();
      request.set_input("input_ids", ids);
      request.infer();
      report.seconds += seconds_since(start);
      ++report.runs;
      report.device = join(request.executed_on(), ",");
      const Tensor& hidden = request.get_output(m.outputs().at(0).name).tensor();
      if (hidden.shape().size() != 3 || hidden.shape()[1] != length)
        throw Error(ErrorCategory::invalid_model, "text encoder output " + m.outputs()[0].name +
                                                      " is not [1, " + std::to_string(length) +
                                                      ", dim]");
      dim = hidden.shape()[2];
      std::vector<float> z = float_values(hidden, "text encoder output");
      double original = 0, weighted = 0;
      for (float v : z) original += v;
      for (int64_t t = 0; t < length; ++t)
        for (int64_t d = 0; d < dim; ++d) z[t * dim + d] *= chunks.weights[c][t];
      for (float v : z) weighted += v;
      if (weighted != 0)
        for (float& v : z) v = static_cast<float>(v * (original / weighted));
      out.insert(out.end(), z.begin(), z.end());
    }
    tokens = static_cast<int64_t>(chunks.tokens.size()) * length;
    return out;
  }

  // Latents [4, h, w] (already divided by the scaling factor) to pixels [3, 8h, 8w] in one run.
  std::vector<float> decode(const std::vector<float>& z, int64_t h, int64_t w,
                            StageReport& report) {
    const std::string input = vae_decoder.inputs().at(0).name;
    const CompiledModel& decoder =
        compiled_for("vae decoder", vae_decoder, options.vae_device, {{input, {1, 4, h, w}}});
    InferRequest request = decoder.create_infer_request();
    const auto start = Clock::now();
    request.set_input(input, float_tensor({1, 4, h, w}, z));
    request.infer();
    report.seconds += seconds_since(start);
    ++report.runs;
    report.device = join(request.executed_on(), ",");
    const Tensor& out = request.get_output(decoder.outputs().at(0).name).tensor();
    if (out.shape() != Shape{1, 3, 8 * h, 8 * w})
      throw Error(ErrorCategory::invalid_model, "VAE decoder output is not [1, 3, " +
                                                    std::to_string(8 * h) + ", " +
                                                    std::to_string(8 * w) + "]");
    return float_values(out, "VAE decoder output");
  }

  // diffusers' tiled decode (kDecodeTiles); memory is that of one tile. An image of one tile
  // is the plain decode.
  std::vector<float> decode_tiled(const std::vector<float>& z, int64_t h, int64_t w,
                                  StageReport& report) {
    if (h <= kDecodeTiles.tile && w <= kDecodeTiles.tile) return decode(z, h, w, report);
    return run_tiled(Planes{4, h, w, z}, kDecodeTiles, 8 * h, 8 * w,
                     [&](const Planes& tile) {
                       return Planes{3, 8 * tile.height, 8 * tile.width,
                                     decode(tile.values, tile.height, tile.width, report)};
                     })
        .values;
  }

  // Pixels [3, H, W] in [-1, 1] to the encoder's output [4 or 8, H / 8, W / 8] in one run.
  Planes encode(const Planes& pixels, StageReport& report) {
    const Model& encoder = vae_encoder();
    const std::string input = encoder.inputs().at(0).name;
    const int64_t H = pixels.height, W = pixels.width;
    const CompiledModel& m =
        compiled_for("vae encoder", encoder, options.vae_device, {{input, {1, 3, H, W}}});
    InferRequest request = m.create_infer_request();
    const auto start = Clock::now();
    request.set_input(input, float_tensor({1, 3, H, W}, pixels.values));
    request.infer();
    report.seconds += seconds_since(start);
    ++report.runs;
    report.device = join(request.executed_on(), ",");
    const Tensor& out = request.get_output(m.outputs().at(0).name).tensor();
    const int64_t h = H / 8, w = W / 8;
    if (out.shape().size() != 4 || out.shape()[0] != 1 || out.shape()[2] != h ||
        out.shape()[3] != w || (out.shape()[1] != 4 && out.shape()[1] != 8))
      throw Error(ErrorCategory::invalid_model, "VAE encoder output " + m.outputs()[0].name +
                                                    " is not [1, 4 or 8, " + std::to_string(h) +
                                                    ", " + std::to_string(w) + "]");
    return Planes{out.shape()[1], h, w, float_values(out, "VAE encoder output")};
  }

  // An init image as the VAE encoder's latents times the scaling factor [4 * h * w]: pixels to
  // [-1, 1] (diffusers' preprocessing), the latent distribution's mean where the encoder gives
  // mean and log-variance (latent_parameters, 8 channels), its sample where it gives 4. Tiled
  // as diffusers' tiled_encode (kEncodeTiles) when asked and larger than one tile; the tiles'
  // mean and log-variance are blended alike.
  std::vector<float> encode_image(const Image& image, bool tiled, StageReport& report) {
    const int64_t H = image.height, W = image.width;
    Planes pixels{3, H, W, {}};
    pixels.values.resize(static_cast<std::size_t>(3 * H * W));
    const std::size_t plane = static_cast<std::size_t>(H * W);
    for (std::size_t i = 0; i < plane; ++i)
      for (int c = 0; c < 3; ++c)
        pixels.values[c * plane + i] = image.rgb[i * 3 + c] / 255.0f * 2.0f - 1.0f;
    const bool one_tile = H <= kEncodeTiles.tile && W <= kEncodeTiles.tile;
    std::vector<float> z = tiled && !one_tile
                               ? run_tiled(pixels, kEncodeTiles, H / 8, W / 8,
                                           [&](const Planes& tile) { return encode(tile, report); })
                                     .values
                               : encode(pixels, report).values;
    z.resize(static_cast<std::size_t>(4 * (H / 8) * (W / 8)));  // the mean: the first 4 channels
    for (float& v : z) v = static_cast<float>(v * folder.vae_scaling_factor);
    return z;
  }

  // The plan at these parameters: the process, each stage's weights and its working set from the
  // models' own memory planning at the shapes generate() compiles for.
  MemoryPlan plan_memory(const GenerationParams& p) const {
    const int64_t batch = p.batch_size, h = p.height / 8, w = p.width / 8;
    const int64_t length = tokenizer.max_length();
    const int64_t unet_batch = runs_guidance_batch(p) ? 2 * batch : batch;
    const int64_t chunks =
        std::max<int64_t>(1, static_cast<int64_t>(std::max(
                                 tokenize_prompt(tokenizer, p.prompt).tokens.size(),
                                 tokenize_prompt(tokenizer, p.negative_prompt).tokens.size())));
    MemoryPlan plan;
    auto add = [&](const std::string& name, const Model& m, const std::string& device,
                   const std::map<std::string, Shape>& shapes) {
      const MemoryEstimate e = core.memory_estimate(m, device, shapes);
      plan.stages.push_back(
          {name, e.weight_bytes + e.packed_weight_bytes, e.input_bytes + e.activation_bytes});
    };
    add("text encoder", text_encoder, options.text_encoder_device, {{"input_ids", {1, length}}});
    // The context width is the text encoder's hidden size; read it from the UNet's input.
    int64_t dim = 768;
    for (const PortInfo& port : unet.inputs())
      if (port.name == "encoder_hidden_states" && port.shape.size() == 3 &&
          port.shape[2].is_static())
        dim = port.shape[2].value;
    std::map<std::string, Shape> unet_shapes = {
        {"sample", {unet_batch, 4, h, w}},
        {"timestep", {1}},
        {"encoder_hidden_states", {unet_batch, chunks * length, dim}}};
    add("unet", unet, options.unet_device, unet_shapes);
    // Tiled: the decoder and encoder run on one tile at a time.
    const int64_t dh = p.vae_tiling ? std::min<int64_t>(h, kDecodeTiles.tile) : h;
    const int64_t dw = p.vae_tiling ? std::min<int64_t>(w, kDecodeTiles.tile) : w;
    add("vae decoder", vae_decoder, options.vae_device,
        {{vae_decoder.inputs().at(0).name, {1, 4, dh, dw}}});
    if (p.init_image && folder.has_vae_encoder) {
      const int64_t eh = p.vae_tiling ? std::min<int64_t>(p.height, kEncodeTiles.tile) : p.height;
      const int64_t ew = p.vae_tiling ? std::min<int64_t>(p.width, kEncodeTiles.tile) : p.width;
      add("vae encoder", vae_encoder(), options.vae_device,
          {{vae_encoder().inputs().at(0).name, {1, 3, eh, ew}}});
    }
    // Every stage's weights stay (the text encoder's and the UNet's only through their own
    // stage unless they are kept); its working memory goes back when the next stage begins
    // (release_working_memory). The peak is the largest of the stages' weights held then plus
    // its working memory.
    plan.process_bytes = resident_bytes();
    for (auto& s : plan.stages) s.released_after_use = released_after_use(s.name);
    int64_t need = 0;
    for (const auto& s : plan.stages) {
      int64_t held = 0;
      for (const auto& other : plan.stages)
        if (!other.released_after_use || run_order(other.name) >= run_order(s.name))
          held += other.weight_bytes;
      need = std::max(need, held + s.activation_bytes);
    }
    plan.peak_bytes = plan.process_bytes + need;
    const int64_t limit = core.config().memory_limit_bytes();
    if (limit > 0) {
      plan.limit_bytes = limit;
      plan.limit_source =
          "setting memory_limit from " + core.config().setting("memory_limit").source;
    } else {
      // What the machine has available, and what this process holds already.
      for (const DeviceInfo& d : core.available_devices())
        if (d.name == "CPU") plan.limit_bytes = d.memory_available_bytes + plan.process_bytes;
      plan.limit_source = "available on this machine";
    }
    return plan;
  }

  // Refuses before anything is compiled when the plan exceeds the limit, naming the largest
  // square size (a multiple of 64) that would fit.
  void check_memory(const GenerationParams& p) const {
    const MemoryPlan plan = plan_memory(p);
    if (plan.limit_bytes <= 0 || plan.peak_bytes <= plan.limit_bytes) return;
    // What would fit: the same with VAE tiling, else the largest smaller square.
    std::string fits;
    if (!p.vae_tiling) {
      GenerationParams tiled = p;
      tiled.vae_tiling = true;
      if (plan_memory(tiled).peak_bytes <= plan.limit_bytes) fits = "--vae-tiling fits";
    }
    for (int side = std::min(p.width, p.height) / 64 * 64; side >= 64 && fits.empty(); side -= 64) {
      GenerationParams smaller = p;
      smaller.width = smaller.height = side;
      smaller.batch_size = 1;
      if (plan_memory(smaller).peak_bytes <= plan.limit_bytes) {
        fits = std::to_string(side) + "x" + std::to_string(side) + " with batch 1 fits";
        break;
      }
    }
    if (fits.empty()) fits = "nothing smaller fits either";
    throw Error(ErrorCategory::out_of_memory,
                std::to_string(p.width) + "x" + std::to_string(p.height) + ", batch " +
                    std::to_string(p.batch_size) +
                    " needs more memory than allowed: " + plan.describe() + "; " + fits);
  }

  void validate(const GenerationParams& p) const {
    auto bad = [](const std::string& m) { throw Error(ErrorCategory::invalid_argument, m); };
    if (p.width < 8 || p.height < 8 || p.width % 8 || p.height % 8)
      bad("width and height must be positive multiples of 8, got " + std::to_string(p.width) + "x" +
          std::to_string(p.height));
    if (p.steps < 1 || p.steps > 1000) bad("steps must be 1..1000, got " + std::to_string(p.steps));
    if (p.batch_size < 1 || p.batch_size > 64)
      bad("batch size must be 1..64, got " + std::to_string(p.batch_size));
    if (!std::isfinite(p.cfg_scale)) bad("CFG scale must be a number");
    if (p.seed < -1 || p.seed > 0xFFFFFFFFLL) bad("seed must be -1 or 0..4294967295");
    try {
      make_noise_source(p.rng, 0);
      SchedulerConfig c = folder.scheduler;
      c.sigma_schedule = p.schedule;
      make_scheduler(p.sampler, c)->set_timesteps(p.steps);
    } catch (const std::invalid_argument& e) {
      bad(e.what());
    }
    if (p.init_image) {
      if (!folder.has_vae_encoder)
        bad("img2img needs a VAE encoder: " +
            (folder.root / "vae_encoder" / "model.onnx").string() + " is missing");
      if (!(p.strength >= 0 && p.strength <= 1))
        bad("strength must be 0..1, got " + std::to_string(p.strength));
      if (p.latents) bad("give either an init image or latents, not both");
    }
    if (p.latents) {
      const std::size_t want =
          static_cast<std::size_t>(p.batch_size) * 4 * (p.height / 8) * (p.width / 8);
      if (p.latents->size() != want)
        bad("latents have " + std::to_string(p.latents->size()) + " values, expected " +
            std::to_string(want) + " ([" + std::to_string(p.batch_size) + ", 4, " +
            std::to_string(p.height / 8) + ", " + std::to_string(p.width / 8) + "])");
    }
  }
};

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;

Pipeline Pipeline::load(const Core& core, const std::string& folder,
                        const PipelineOptions& options) {
  ModelFolder f = ModelFolder::read(folder);
  try {
    return Pipeline(std::make_unique<Impl>(core, std::move(f), options));
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const Error*>(&e)) throw;
    throw Error(ErrorCategory::invalid_model, e.what());  // the tokenizer's file errors
  }
}

void Pipeline::validate(const GenerationParams& params) const {
  impl_->validate(params);
}

namespace {

// From 1024x1024 (a million pixels) up the VAE decodes and encodes in tiles whatever was asked:
// in one piece its 128-channel layers at full resolution need gigabytes (SD's VAE decoder at
// 1024x1024: about 2.5 GiB of working memory; tiled, that of one 512-pixel tile).
GenerationParams with_automatic_tiling(GenerationParams p) {
  if (int64_t{p.width} * p.height >= int64_t{1024} * 1024) p.vae_tiling = true;
  return p;
}

}  // namespace

MemoryPlan Pipeline::plan_memory(const GenerationParams& params) const {
  impl_->validate(params);
  return impl_->plan_memory(with_automatic_tiling(params));
}

const std::vector<std::string>& Pipeline::load_report() const {
  return impl_->load_report;
}
const std::string& Pipeline::model_name() const {
  return impl_->name;
}
const std::string& Pipeline::model_hash() const {
  return impl_->hash;
}

std::pair<int, std::vector<std::vector<int>>> Pipeline::tokenize(const std::string& prompt) const {
  const PromptChunks chunks = tokenize_prompt(impl_->tokenizer, prompt);
  return {chunks.token_count, chunks.tokens};
}

GenerationResult Pipeline::generate(const GenerationParams& params,
                                    const std::function<void(const StepProgress&)>& on_step,
                                    const std::atomic<bool>* cancel) {
  Impl& im = *impl_;
  const GenerationParams p = with_automatic_tiling(params);
  im.validate(p);
  im.check_memory(p);
  im.compiles.clear();
  const auto start = Clock::now();
  GenerationResult result;
  const int64_t batch = p.batch_size, h = p.height / 8, w = p.width / 8;
  int64_t seed = p.seed;
  if (seed == -1) seed = static_cast<int64_t>(std::random_device{}() & 0xFFFFFFFFu);
  for (int64_t i = 0; i < batch; ++i) result.seeds.push_back(seed + i);

  // Prompts: the negative padded with empty-prompt chunks to as many chunks as the prompt (and
  // the other way round), as A1111 pads its conditionings.
  const PortInfo* guidance_port = im.guidance_port;
  const bool guidance = im.runs_guidance_batch(p);
  StageReport text{"text encoder", "", 0, 0};
  PromptChunks cond_chunks = tokenize_prompt(im.tokenizer, p.prompt);
  PromptChunks uncond_chunks = tokenize_prompt(im.tokenizer, p.negative_prompt);
  const PromptChunks empty = tokenize_prompt(im.tokenizer, "");
  while (guidance && uncond_chunks.tokens.size() < cond_chunks.tokens.size()) {
    uncond_chunks.tokens.push_back(empty.tokens[0]);
    uncond_chunks.weights.push_back(empty.weights[0]);
  }
  while (guidance && cond_chunks.tokens.size() < uncond_chunks.tokens.size()) {
    cond_chunks.tokens.push_back(empty.tokens[0]);
    cond_chunks.weights.push_back(empty.weights[0]);
  }
  int64_t tokens = 0, dim = 0;
  const std::vector<float> cond = im.encode_prompt(cond_chunks, tokens, dim, text);
  const std::vector<float> uncond =
      guidance ? im.encode_prompt(uncond_chunks, tokens, dim, text) : std::vector<float>{};
  result.stages.push_back(text);
  im.release_working_memory();
  if (im.released_after_use("text encoder")) im.release_stage("text encoder");

  // The UNet's batch: [uncond x batch, cond x batch] with guidance (diffusers' order).
  const int64_t unet_batch = guidance ? 2 * batch : batch;
  std::vector<float> context;
  for (int half = guidance ? 0 : 1; half < 2; ++half)
    for (int64_t i = 0; i < batch; ++i) {
      const std::vector<float>& e = half == 0 ? uncond : cond;
      context.insert(context.end(), e.begin(), e.end());
    }

  SchedulerConfig config = im.folder.scheduler;
  config.sigma_schedule = p.schedule;
  std::unique_ptr<Scheduler> scheduler = make_scheduler(p.sampler, config);
  scheduler->set_timesteps(p.steps);

  // Starting latents: given, or seeded noise per image, both times the initial sigma; for
  // img2img the init image's latents noised to the level of the first step run.
  const std::size_t per_image = static_cast<std::size_t>(4 * h * w);
  std::vector<float> latents;
  std::size_t first_step = 0;
  if (p.init_image) {
    StageReport encoder{"vae encoder", "", 0, 0};
    const std::vector<float> z =
        im.encode_image(resize_image(*p.init_image, p.width, p.height), p.vae_tiling, encoder);
    result.stages.push_back(encoder);
    im.release_working_memory();
    for (int64_t i = 0; i < batch; ++i) latents.insert(latents.end(), z.begin(), z.end());
    // diffusers: int(steps * strength) steps run, from timestep index (steps - run) * order.
    const auto run =
        std::min(static_cast<std::size_t>(p.steps * p.strength), static_cast<std::size_t>(p.steps));
    first_step = (static_cast<std::size_t>(p.steps) - run) * scheduler->order();
    if (run > 0) {
      BatchNoise initial(p.rng, result.seeds);
      scheduler->add_noise(latents, initial.randn(per_image * batch), first_step);
    }
  } else {
    if (p.latents) {
      latents = *p.latents;
    } else {
      BatchNoise initial(p.rng, result.seeds);
      latents = initial.randn(per_image * batch);
    }
    const auto init_sigma = static_cast<float>(scheduler->init_noise_sigma());
    for (float& v : latents) v *= init_sigma;
  }
  // Step noise (ancestral samplers): A1111 keeps one generator per image, created from the
  // seed like the one that drew the starting noise, so its first draw repeats that noise.
  BatchNoise step_noise(p.rng, result.seeds);

  // Denoising (none for img2img at strength 0: the image's VAE round trip).
  const std::size_t steps = scheduler->timesteps().size();
  if (first_step < steps) {
    const PortInfo& timestep_port = find_input(im.unet, "timestep", "UNet");
    const Shape timestep_shape =
        timestep_port.has_shape && timestep_port.shape.size() == 1 ? Shape{1} : Shape{};
    std::map<std::string, Shape> unet_shapes = {
        {"sample", {unet_batch, 4, h, w}},
        {"timestep", timestep_shape},
        {"encoder_hidden_states", {unet_batch, tokens, dim}}};
    std::vector<float> guidance_embedding;
    if (guidance_port) {
      const int64_t width = guidance_port->has_shape && guidance_port->shape.size() == 2 &&
                                    guidance_port->shape[1].is_static()
                                ? guidance_port->shape[1].value
                                : 256;
      for (int64_t i = 0; i < batch; ++i) {
        const std::vector<float> e = guidance_scale_embedding(p.cfg_scale - 1.0, width);
        guidance_embedding.insert(guidance_embedding.end(), e.begin(), e.end());
      }
      unet_shapes["timestep_cond"] = {batch, width};
    }
    const CompiledModel& unet =
        im.compiled_for("unet", im.unet, im.options.unet_device, unet_shapes);
    InferRequest request = unet.create_infer_request();
    request.set_input("encoder_hidden_states", float_tensor({unet_batch, tokens, dim}, context));
    if (guidance_port)
      request.set_input("timestep_cond",
                        float_tensor(unet_shapes["timestep_cond"], guidance_embedding));
    StageReport unet_report{"unet", "", 0, 0};
    const auto sampling_start = Clock::now();
    for (std::size_t i = first_step; i < steps; ++i) {
      if (cancel && cancel->load()) {
        if (!p.decode_when_interrupted) throw Error(ErrorCategory::invalid_argument, "cancelled");
        result.interrupted = true;
        break;
      }
      const auto scale = static_cast<float>(scheduler->input_scale(i));
      std::vector<float> input;
      input.reserve(per_image * unet_batch);
      for (int copy = 0; copy < (guidance ? 2 : 1); ++copy)
        for (float v : latents) input.push_back(v * scale);
      const double t = scheduler->timesteps()[i];
      Tensor timestep(timestep_port.element_type, timestep_shape);
      if (timestep_port.element_type == ElementType::i64)
        timestep.data_as<int64_t>()[0] = static_cast<int64_t>(t);  // as numpy's astype(int64)
      else if (timestep_port.element_type == ElementType::f32)
        timestep.data_as<float>()[0] = static_cast<float>(t);
      else
        throw Error(ErrorCategory::invalid_model,
                    "UNet timestep is " + std::string(to_string(timestep_port.element_type)) +
                        ", expected f32 or i64");
      const auto step_start = Clock::now();
      request.set_input("sample", float_tensor({unet_batch, 4, h, w}, input));
      request.set_input("timestep", timestep);
      request.infer();
      unet_report.seconds += seconds_since(step_start);
      ++unet_report.runs;
      unet_report.device = join(request.executed_on(), ",");
      std::vector<float> noise_pred =
          float_values(request.get_output(unet.outputs().at(0).name).tensor(), "UNet output");
      if (guidance) {
        const std::size_t half = noise_pred.size() / 2;
        std::vector<float> guided(half);
        const auto g = static_cast<float>(p.cfg_scale);
        for (std::size_t k = 0; k < half; ++k)
          guided[k] = noise_pred[k] + g * (noise_pred[half + k] - noise_pred[k]);
        noise_pred = std::move(guided);
      }
      scheduler->step(noise_pred, i, latents, &step_noise);
      if (on_step)
        on_step({static_cast<int>(i + 1 - first_step), static_cast<int>(steps - first_step),
                 seconds_since(sampling_start), &latents, h, w});
    }
    result.stages.push_back(unet_report);
  }
  im.release_working_memory();  // the UNet's request (and its outputs) went with the block
  if (im.released_after_use("unet")) im.release_stage("unet");

  result.latent_shape = {batch, 4, h, w};

  if (p.decode) {
    StageReport vae{"vae decoder", "", 0, 0};
    for (int64_t i = 0; i < batch; ++i) {
      std::vector<float> z(latents.begin() + i * per_image, latents.begin() + (i + 1) * per_image);
      for (float& v : z) v = static_cast<float>(v / im.folder.vae_scaling_factor);
      const std::vector<float> pixels =
          p.vae_tiling ? im.decode_tiled(z, h, w, vae) : im.decode(z, h, w, vae);
      Image image{p.width, p.height,
                  std::vector<uint8_t>(static_cast<std::size_t>(p.width) * p.height * 3)};
      const std::size_t plane = static_cast<std::size_t>(p.width) * p.height;
      for (std::size_t px = 0; px < plane; ++px)
        for (int c = 0; c < 3; ++c) {
          // diffusers: (x / 2 + 0.5).clamp(0, 1), then (x * 255).round() as uint8.
          const float v = std::clamp(pixels[c * plane + px] / 2 + 0.5f, 0.0f, 1.0f);
          image.rgb[px * 3 + c] = static_cast<uint8_t>(std::nearbyint(v * 255.0f));
        }
      result.images.push_back(std::move(image));
    }
    result.stages.push_back(vae);
    im.release_working_memory();
  }
  for (int64_t i = 0; i < batch; ++i) {
    Infotext info{p.prompt, p.negative_prompt, p.sampler,       p.schedule, p.steps, p.width,
                  p.height, p.cfg_scale,       result.seeds[i], im.hash,    im.name};
    if (p.init_image) info.denoising_strength = p.strength;
    // The sampler as A1111 names it, whatever case it was given in.
    for (const std::string& known : known_samplers())
      if (std::equal(known.begin(), known.end(), p.sampler.begin(), p.sampler.end(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        info.sampler = known;
    result.infotexts.push_back(format_infotext(info));
  }
  result.stages.insert(result.stages.begin(), im.compiles.begin(), im.compiles.end());
  result.latents = std::move(latents);
  result.seconds = seconds_since(start);
  return result;
}

std::vector<std::string> known_samplers() {
  return sinter::diffusion::known_sampler_names();
}

}  // namespace sinter::diffusion
