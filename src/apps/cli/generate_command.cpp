// `sinter txt2img` (generate images from a diffusers ONNX pipeline folder) and
// `sinter tokenize` (A1111's token counter). Thin: flags in, sinter::diffusion out.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sinter/diffusion.hpp>

#include "apps/cli/commands.hpp"
#include "apps/cli/interrupts.hpp"
#include "apps/cli/settings.hpp"

namespace sinter_cli {

namespace {

namespace sd = sinter::diffusion;

std::atomic<bool> g_interrupted{false};

struct GenerateArgs {
  std::string folder, output, latents_file, device, text_encoder_device, unet_device, vae_device;
  std::string init_image;  // img2img
  CLI::Option *width_option = nullptr, *height_option = nullptr;
  std::string output_type = "png", progress = "auto";
  std::string timings_json;  // --timings-json FILE
  bool quiet = false;
  sd::GenerationParams params;
};

// OUT for image i of n: OUT itself for one image, OUT's stem + "-<i+1>" before its extension
// for several (as A1111 numbers a batch).
std::string numbered(const std::string& out, int i, int n, const std::string& extension) {
  std::filesystem::path p(out);
  if (p.extension().empty()) p += extension;
  if (n == 1) return p.string();
  return (p.parent_path() /
          (p.stem().string() + "-" + std::to_string(i + 1) + p.extension().string()))
      .string();
}

void check_writable(const std::string& out) {
  std::filesystem::path dir = std::filesystem::path(out).parent_path();
  if (dir.empty()) dir = ".";
  if (!std::filesystem::is_directory(dir) || access(dir.c_str(), W_OK) != 0)
    throw sinter::Error(
        sinter::ErrorCategory::io_error,
        "cannot write " + out + ": folder " + dir.string() + " does not exist or is not writable");
}

void progress_line(const GenerateArgs& a, const sd::StepProgress& s) {
  if (a.quiet || a.progress == "none") return;
  const double rate = s.elapsed_seconds > 0 ? s.step / s.elapsed_seconds : 0;
  const double eta = rate > 0 ? (s.steps - s.step) / rate : 0;
  const bool json = a.progress == "json" || (a.progress == "auto" && !isatty(fileno(stderr)));
  if (json) {
    std::fprintf(stderr, "{\"step\": %d, \"steps\": %d, \"it_per_s\": %.3f, \"eta_s\": %.2f}\n",
                 s.step, s.steps, rate, eta);
    return;
  }
  const int width = 30, filled = s.steps ? width * s.step / s.steps : width;
  std::fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f it/s  ETA %.1fs", filled,
               "==============================", width - filled, "", s.step, s.steps, rate, eta);
  if (s.step == s.steps) std::fprintf(stderr, "\n");
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// --timings-json: what a benchmark needs to know of the run (bench/sd_bench.js reads it): when
// the pipeline was loaded and each step finished, counted from the command's start, the stages'
// times, the memory plan and the process's peak RSS.
void write_timings(const std::string& path, double load_s, const std::vector<double>& step_done_s,
                   const sd::GenerationResult& r, const sd::MemoryPlan& plan,
                   const std::vector<std::string>& load_report) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : r.stages)
    stages.push_back(
        {{"stage", s.stage}, {"device", s.device}, {"seconds", s.seconds}, {"runs", s.runs}});
  const nlohmann::json j = {{"load_s", load_s},
                            {"step_done_s", step_done_s},
                            {"generate_s", r.seconds},
                            {"stages", stages},
                            {"load_report", load_report},
                            {"memory_plan_peak_mb", double(plan.peak_bytes) / 1048576.0},
                            {"peak_rss_mb", double(sinter::peak_rss_bytes()) / 1048576.0}};
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out)
    throw sinter::Error(sinter::ErrorCategory::io_error, "cannot write --timings-json " + path);
}

void generate(GenerateArgs& a) {
  const Clock::time_point started = Clock::now();
  const char* command = a.init_image.empty() ? "txt2img" : "img2img";
  if (a.output_type != "png" && a.output_type != "latent")
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "--output-type must be png or latent, got '" + a.output_type + "'");
  if (a.progress != "auto" && a.progress != "bar" && a.progress != "json" && a.progress != "none")
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "--progress must be auto, bar, json or none");
  check_writable(a.output);
  sinter::Core core = cli_settings().make_core(a.device);
  const std::string all = core.config().get("device");
  sd::PipelineOptions options{a.text_encoder_device.empty() ? all : a.text_encoder_device,
                              a.unet_device.empty() ? all : a.unet_device,
                              a.vae_device.empty() ? all : a.vae_device};
  // One generation: the text encoder's weights need not last the UNet loop, nor the UNet's the
  // VAE decode.
  options.keep_text_encoder = false;
  options.keep_unet = false;
  sd::Pipeline pipe = sd::Pipeline::load(core, a.folder, options);
  const double load_s = seconds_since(started);
  sd::GenerationParams& p = a.params;
  p.decode = a.output_type == "png";
  if (!a.init_image.empty()) {
    p.init_image = sd::read_png(a.init_image);
    // Without -W/-H: the init image's size, rounded down to multiples of 8.
    if (a.width_option->count() == 0) p.width = std::max(8, p.init_image->width / 8 * 8);
    if (a.height_option->count() == 0) p.height = std::max(8, p.init_image->height / 8 * 8);
  }
  if (!a.latents_file.empty()) {
    const sinter::Tensor t = sinter::load_tensor(a.latents_file);
    if (t.element_type() != sinter::ElementType::f32)
      throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                          a.latents_file + ": latents must be f32");
    p.latents = std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.element_count());
  }
  pipe.validate(p);  // one-line errors before anything runs
  const sd::MemoryPlan plan = pipe.plan_memory(p);
  const interrupts::Watch watch(g_interrupted);  // Ctrl-C stops after the current step
  if (!a.quiet)
    std::fprintf(stderr, "%s: %s, %d steps of %s, %dx%d, batch %d, seed %s\n", command,
                 pipe.model_name().c_str(), p.steps, p.sampler.c_str(), p.width, p.height,
                 p.batch_size, p.seed == -1 ? "random" : std::to_string(p.seed).c_str());
  if (!a.quiet) {
    for (const std::string& line : pipe.load_report()) std::fprintf(stderr, "  %s\n", line.c_str());
    std::fprintf(stderr, "  memory plan: %s\n", plan.describe().c_str());
  }
  sd::GenerationResult r;
  std::vector<double> step_done_s;
  try {
    r = pipe.generate(
        p,
        [&](const sd::StepProgress& s) {
          step_done_s.push_back(seconds_since(started));
          progress_line(a, s);
        },
        &g_interrupted);
  } catch (const sinter::Error& e) {
    if (g_interrupted) {
      std::fprintf(stderr, "\n%s: interrupted; nothing written\n", command);
      throw ExitStatus{128 + interrupts::last_signal()};
    }
    throw;
  }
  std::vector<std::string> written;
  if (p.decode) {
    for (std::size_t i = 0; i < r.images.size(); ++i) {
      written.push_back(
          numbered(a.output, static_cast<int>(i), static_cast<int>(r.images.size()), ".png"));
      sd::write_png(written.back(), r.images[i], r.infotexts[i]);
    }
  } else {
    sinter::Tensor t(sinter::ElementType::f32, r.latent_shape);
    std::copy(r.latents.begin(), r.latents.end(), t.data_as<float>());
    written.push_back(numbered(a.output, 0, 1, ".npy"));
    sinter::save_npy(t, written.back());
  }
  if (!a.timings_json.empty())
    write_timings(a.timings_json, load_s, step_done_s, r, plan, pipe.load_report());
  for (const auto& w : written) std::printf("%s\n", w.c_str());
  std::fflush(stdout);  // the file names before the summary, also through a pipe
  if (a.quiet) return;
  for (const auto& s : r.stages) {
    if (s.runs == 0)  // a compile: the first run at this size
      std::fprintf(stderr, "  %s on %s: %.3f s\n", s.stage.c_str(), s.device.c_str(), s.seconds);
    else
      std::fprintf(stderr, "  %-13s on %-10s %8.3f s (%d run%s)\n", s.stage.c_str(),
                   s.device.c_str(), s.seconds, s.runs, s.runs == 1 ? "" : "s");
  }
  std::fprintf(stderr, "  total %.3f s, seeds", r.seconds);
  for (int64_t s : r.seeds) std::fprintf(stderr, " %lld", static_cast<long long>(s));
  std::fprintf(stderr, "\n");
}

struct TokenizeArgs {
  std::string folder, text;
};

void tokenize(const TokenizeArgs& a) {
  sinter::Core core = cli_settings().make_core();
  const sd::Pipeline pipe = sd::Pipeline::load(core, a.folder, {});
  const auto [count, chunks] = pipe.tokenize(a.text);
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    std::printf("chunk %zu:", c + 1);
    for (int id : chunks[c]) std::printf(" %d", id);
    std::printf("\n");
  }
  std::printf("tokens: %d/%zu\n", count, chunks.size() * 75);
}

// The options txt2img and img2img share.
void add_generation_options(CLI::App* t, GenerateArgs& a) {
  std::string samplers;
  for (const auto& s : sd::known_samplers()) samplers += (samplers.empty() ? "" : ", ") + s;
  t->add_option("folder", a.folder, "Pipeline folder (model_index.json, unet/, ...)")
      ->required()
      ->check(CLI::ExistingDirectory);
  t->add_option("-p,--prompt", a.params.prompt, "Prompt (A1111 syntax: (word:1.2), [word], BREAK)")
      ->required();
  t->add_option("-n,--negative-prompt", a.params.negative_prompt, "Negative prompt");
  t->add_option("--sampler", a.params.sampler, "Sampler: " + samplers)->capture_default_str();
  t->add_option("--schedule", a.params.schedule, "normal, karras, exponential or sgm_uniform")
      ->capture_default_str();
  t->add_option("--steps", a.params.steps, "Sampling steps (1..1000)")->capture_default_str();
  t->add_option("--cfg-scale", a.params.cfg_scale, "Classifier-free guidance scale")
      ->capture_default_str();
  t->add_option("--seed", a.params.seed, "Seed (-1: random); image i of a batch uses seed + i")
      ->capture_default_str();
  a.width_option = t->add_option("-W,--width", a.params.width, "Width in pixels (multiple of 8)")
                       ->capture_default_str();
  a.height_option =
      t->add_option("-H,--height", a.params.height, "Height in pixels (multiple of 8)")
          ->capture_default_str();
  t->add_option("--batch-size", a.params.batch_size, "Images per run")->capture_default_str();
  t->add_flag("--vae-tiling", a.params.vae_tiling,
              "Decode (img2img: also encode) in overlapping 512-pixel tiles blended at the seams "
              "(large images fit; on by itself from 1024x1024 up)");
  t->add_option("--rng", a.params.rng,
                "Noise: nv (torch on NVIDIA GPUs, as A1111) or cpu (torch's CPU generator)")
      ->capture_default_str();
  t->add_option("--output-type", a.output_type, "png, or latent (.npy of the final latents)")
      ->capture_default_str();
  t->add_option("-o,--output", a.output, "Output file; a batch numbers its files (out-1.png, ...)")
      ->required();
  t->add_option("-d,--device", a.device,
                "Device for every stage (CPU, GPU.0, 0, HETERO:..., AUTO)");
  t->add_option("--text-encoder-device", a.text_encoder_device, "Device of the text encoder");
  t->add_option("--unet-device", a.unet_device, "Device of the UNet");
  t->add_option("--vae-device", a.vae_device, "Device of the VAE");
  t->add_option("--progress", a.progress,
                "auto (a bar on a terminal, JSON lines otherwise), bar, json or none")
      ->capture_default_str();
  t->add_flag("-q,--quiet", a.quiet, "Print only the written file names");
  t->add_option("--timings-json", a.timings_json,
                "Also write the run's timings (load, each step, stages), memory plan and peak "
                "RSS to this JSON file");
}

}  // namespace

void add_generate_commands(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* t = app.add_subcommand(
      "txt2img",
      "Generate images from a prompt with a Stable Diffusion pipeline folder (diffusers ONNX "
      "layout)\nExample: sinter txt2img sd-tiny -p \"a photo of a cat\" --seed 1 -o cat.png");
  add_generation_options(t, *a);
  t->add_option("--latents", a->latents_file, "Start from these latents (.npy [batch,4,H/8,W/8])")
      ->check(CLI::ExistingFile);
  t->callback([a] { generate(*a); });

  auto b = std::make_shared<GenerateArgs>();
  auto* i = app.add_subcommand(
      "img2img",
      "Generate images from an init image and a prompt (diffusers' img2img: the image encoded, "
      "noised to the strength's step, then denoised)\nExample: sinter img2img sd-tiny "
      "--init-image in.png --strength 0.6 -p \"an oil painting\" -o out.png");
  add_generation_options(i, *b);
  i->add_option("--init-image", b->init_image,
                "Init image (PNG; resized to -W x -H, default its size)")
      ->required()
      ->check(CLI::ExistingFile);
  i->add_option("--strength", b->params.strength,
                "Denoising strength 0..1: 0 returns the image's VAE round trip, 1 ignores it")
      ->capture_default_str();
  i->callback([b] { generate(*b); });

  auto k = std::make_shared<TokenizeArgs>();
  auto* tok = app.add_subcommand(
      "tokenize", "Print a prompt's token ids per 75-token chunk and its count (A1111's counter)");
  tok->add_option("folder", k->folder, "Pipeline folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  tok->add_option("text", k->text, "Prompt")->required();
  tok->callback([k] { tokenize(*k); });
}

}  // namespace sinter_cli
