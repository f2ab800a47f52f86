// A1111's API (/sdapi/v1/*): field names, defaults and response shapes as A1111 has them
// (modules/api/models.py and api.py): images as base64 PNGs carrying the infotext,
// "parameters" echoing the request and "info" as a JSON string.
#include <chrono>
#include <ctime>
#include <regex>

#include "apps/server/base64.hpp"
#include "apps/server/server.hpp"

namespace sinter_server {

using nlohmann::json;
namespace sd = sinter::diffusion;

namespace {

// A1111's scheduler names (and sinter's) to sinter's schedules.
std::string schedule_of(const std::string& name) {
  std::string n;
  for (char c : name)
    n += c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n.empty() || n == "automatic" || n == "uniform" || n == "normal") return "normal";
  if (n == "karras" || n == "exponential" || n == "sgm_uniform") return n;
  throw RequestError{422,
                     "unknown scheduler '" + name +
                         "' (known: Automatic, Uniform, Karras, Exponential, SGM Uniform)",
                     "scheduler"};
}

// The sampler: sampler_name, else sampler_index (an old alias), else Euler a. A1111 also
// accepts "Euler a Karras"-style names of versions before the separate scheduler field.
void read_sampler(const json& j, sd::GenerationParams& p) {
  std::string name = string_field(j, "sampler_name", "");
  if (name.empty()) name = string_field(j, "sampler_index", "Euler a");
  const std::string suffix = " Karras";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    name.resize(name.size() - suffix.size());
    p.schedule = "karras";
  }
  p.sampler = name;
}

struct A1111Request {
  sd::GenerationParams params;
  int n_iter = 1;
  std::string model;
  std::string device;  // sinter_device: every stage on this device
  json echo;           // the request's fields as A1111 echoes them in "parameters"
};

A1111Request read_request(ServerContext& ctx, const json& j, bool img2img) {
  A1111Request r;
  sd::GenerationParams& p = r.params;
  p.decode_when_interrupted = true;  // /interrupt returns the image reached, as A1111 does
  p.prompt = string_field(j, "prompt", "");
  p.negative_prompt = string_field(j, "negative_prompt", "");
  p.steps = static_cast<int>(int_field(j, "steps", 50));  // A1111's API default
  p.cfg_scale = number_field(j, "cfg_scale", 7.0);
  p.width = static_cast<int>(int_field(j, "width", 512));
  p.height = static_cast<int>(int_field(j, "height", 512));
  p.batch_size = static_cast<int>(int_field(j, "batch_size", 1));
  r.n_iter = static_cast<int>(int_field(j, "n_iter", 1));
  if (r.n_iter < 1 || r.n_iter > 16) throw RequestError{422, "n_iter must be 1..16", "n_iter"};
  p.seed = int_field(j, "seed", -1);
  if (p.seed < -1) throw RequestError{422, "seed must be -1 (random) or at least 0", "seed"};
  if (p.seed == -1) p.seed = random_seed();
  read_sampler(j, p);
  if (j.contains("scheduler")) p.schedule = schedule_of(string_field(j, "scheduler", ""));
  // A1111's "tiling" makes seamless textures (circular padding), which sinter does not do; the
  // VAE's tiled decode is sinter_vae_tiling.
  if (bool_field(j, "tiling", false))
    throw RequestError{422,
                       "tiling (seamless textures) is not supported; sinter_vae_tiling: true "
                       "decodes the VAE in tiles",
                       "tiling"};
  p.vae_tiling = bool_field(j, "sinter_vae_tiling", false);
  r.model = ctx.registry->current();
  r.device = string_field(j, "sinter_device", "");
  if (j.contains("override_settings")) {
    const json& o = j["override_settings"];
    if (!o.is_object())
      throw RequestError{422, "override_settings must be an object", "override_settings"};
    const std::string checkpoint = string_field(o, "sd_model_checkpoint", "");
    if (!checkpoint.empty()) r.model = checkpoint.substr(0, checkpoint.find(" ["));
  }
  if (img2img) {
    if (!j.contains("init_images") || !j["init_images"].is_array() || j["init_images"].empty())
      throw RequestError{422, "init_images must be a list of one or more base64 images",
                         "init_images"};
    if (!j["init_images"][0].is_string())
      throw RequestError{422, "init_images[0] must be a base64 string", "init_images"};
    const auto bytes = base64_decode(j["init_images"][0].get<std::string>());
    if (!bytes) throw RequestError{422, "init_images[0] is not valid base64", "init_images"};
    try {
      p.init_image = sd::decode_png(*bytes, "init_images[0]");
    } catch (const sinter::Error& e) {
      throw RequestError{422, e.what(), "init_images"};
    }
    p.strength = number_field(j, "denoising_strength", 0.75);
  }
  r.echo = j;
  if (r.echo.contains("init_images")) r.echo["init_images"] = nullptr;  // not echoed back
  r.echo["seed"] = p.seed;
  return r;
}

std::string model_title(ServerContext& ctx, const std::string& name) {
  if (!ctx.registry->is_loaded(name)) return name;
  return name + " [" + ctx.registry->pipeline(name).model_hash() + "]";
}

json generation_response(ServerContext& ctx, const A1111Request& r, const Job& job) {
  const sd::GenerationResult& res = job.result;
  json images = json::array();
  for (std::size_t i = 0; i < res.images.size(); ++i)
    images.push_back(base64_encode(sd::encode_png(res.images[i], res.infotexts[i])));
  const sd::GenerationParams& p = r.params;
  const std::size_t count = res.seeds.size();
  json info = {{"prompt", p.prompt},
               {"all_prompts", json(std::vector<std::string>(count, p.prompt))},
               {"negative_prompt", p.negative_prompt},
               {"all_negative_prompts", json(std::vector<std::string>(count, p.negative_prompt))},
               {"seed", res.seeds.empty() ? p.seed : res.seeds.front()},
               {"all_seeds", res.seeds},
               {"subseed", -1},
               {"all_subseeds", json(std::vector<int64_t>(count, -1))},
               {"subseed_strength", 0},
               {"width", p.width},
               {"height", p.height},
               {"sampler_name", p.sampler},
               {"scheduler", p.schedule},
               {"cfg_scale", p.cfg_scale},
               {"steps", p.steps},
               {"batch_size", p.batch_size},
               {"n_iter", r.n_iter},
               {"restore_faces", false},
               {"sd_model_name", r.model},
               {"sd_model_hash", ctx.registry->pipeline(r.model, r.device).model_hash()},
               {"sinter_device", r.device},
               {"denoising_strength", p.init_image ? json(p.strength) : json(nullptr)},
               {"infotexts", res.infotexts},
               {"styles", json::array()},
               {"job_timestamp", std::to_string(std::time(nullptr))},
               {"clip_skip", 1},
               {"is_using_inpainting_conditioning", false},
               {"version", std::string("sinter ") + SINTER_VERSION},
               {"interrupted", res.interrupted},
               {"seconds", res.seconds}};
  return {{"images", images}, {"parameters", r.echo}, {"info", info.dump()}};
}

// A1111's parse_generation_parameters: the prompt, "Negative prompt: ..." and the last line's
// "Key: value" pairs (values may be quoted); "Size: WxH" also as Size-1 and Size-2.
json parse_infotext(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == '\n') {
      lines.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  json out = json::object();
  std::string last = lines.empty() ? "" : lines.back();
  static const std::regex pair(R"(\s*([\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$))");
  if (std::regex_search(last, pair) && last.find("Steps:") != std::string::npos) {
    lines.pop_back();
  } else {
    last.clear();
  }
  std::string prompt, negative;
  bool in_negative = false;
  for (const std::string& line : lines) {
    if (line.rfind("Negative prompt:", 0) == 0) {
      in_negative = true;
      negative = line.substr(16);
      if (!negative.empty() && negative[0] == ' ') negative.erase(0, 1);
      continue;
    }
    std::string& target = in_negative ? negative : prompt;
    target += (target.empty() ? "" : "\n") + line;
  }
  out["Prompt"] = prompt;
  out["Negative prompt"] = negative;
  for (auto it = std::sregex_iterator(last.begin(), last.end(), pair); it != std::sregex_iterator();
       ++it) {
    std::string key = (*it)[1].str(), value = (*it)[2].str();
    while (!key.empty() && key.front() == ' ') key.erase(0, 1);
    if (value.size() >= 2 && value.front() == '"') {
      const json quoted = json::parse(value, nullptr, false);
      if (quoted.is_string()) value = quoted.get<std::string>();
    }
    out[key] = value;
    if (key == "Size") {
      const std::size_t x = value.find('x');
      if (x != std::string::npos) {
        out["Size-1"] = value.substr(0, x);
        out["Size-2"] = value.substr(x + 1);
      }
    }
  }
  return out;
}

json sampler_list() {
  static const std::map<std::string, std::vector<std::string>> aliases = {
      {"Euler", {"k_euler"}},
      {"Euler a", {"k_euler_a", "k_euler_ancestral"}},
      {"Heun", {"k_heun"}},
      {"LMS", {"k_lms"}},
      {"DDIM", {}},
      {"LCM", {"k_lcm"}},
      {"UniPC", {}},
      {"PNDM", {"PLMS"}},
      {"DPM++ 2M", {"k_dpmpp_2m"}},
      {"DPM++ 2M SDE", {"k_dpmpp_2m_sde"}}};
  json out = json::array();
  for (const std::string& name : sd::known_samplers()) {
    const auto it = aliases.find(name);
    out.push_back({{"name", name},
                   {"aliases", it == aliases.end() ? json::array() : json(it->second)},
                   {"options", json::object()}});
  }
  return out;
}

}  // namespace

void add_a1111_routes(httplib::Server& http, ServerContext& ctx) {
  auto generation = [&ctx](bool img2img) {
    return [&ctx, img2img](const httplib::Request& req, httplib::Response& res) {
      const A1111Request r = read_request(ctx, parse_json_object(req), img2img);
      if (!ctx.registry->find_pipeline(r.model))
        throw RequestError{404, "no model named '" + r.model + "'", "sd_model_checkpoint"};
      const std::shared_ptr<Job> job =
          generate_batches(ctx, req, r.model, r.device, r.params, r.n_iter);
      send_json(res, 200, generation_response(ctx, r, *job));
    };
  };
  http.Post("/sdapi/v1/txt2img", generation(false));
  http.Post("/sdapi/v1/img2img", generation(true));

  http.Post("/sdapi/v1/interrupt", [&ctx](const httplib::Request&, httplib::Response& res) {
    ctx.queue->interrupt_running();
    send_json(res, 200, nullptr);
  });
  // sinter stops the running job at /skip as at /interrupt (a batch is one job).
  http.Post("/sdapi/v1/skip", [&ctx](const httplib::Request&, httplib::Response& res) {
    ctx.queue->interrupt_running();
    send_json(res, 200, nullptr);
  });

  // current_image: the running job's first image after the latest step, by A1111's cheap
  // latent approximation, unless ?skip_current_image=true.
  http.Get("/sdapi/v1/progress", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const QueueSnapshot q = ctx.queue->snapshot();
    json current_image = nullptr;
    const std::string skip = req.get_param_value("skip_current_image");
    if (skip != "true" && skip != "True" && skip != "1" && q.running_id &&
        !q.running_preview_latents.empty())
      current_image = base64_encode(sd::encode_png(
          sd::latent_preview(q.running_preview_latents.data(), q.running_progress.latent_height,
                             q.running_progress.latent_width),
          ""));
    const int step = q.running_progress.step, steps = q.running_progress.steps;
    const double progress = q.running_id && steps > 0 ? double(step) / steps : 0.0;
    const double eta = progress > 0 ? q.running_seconds / progress - q.running_seconds : 0.0;
    json state = {{"skipped", false},
                  {"interrupted", false},
                  {"job", q.running_id ? "job " + std::to_string(*q.running_id) : ""},
                  {"job_count", (q.running_id ? 1 : 0) + static_cast<int>(q.queued)},
                  {"job_timestamp", "0"},
                  {"job_no", 0},
                  {"sampling_step", step},
                  {"sampling_steps", steps}};
    send_json(res, 200,
              {{"progress", progress},
               {"eta_relative", eta},
               {"state", state},
               {"current_image", current_image},
               {"textinfo", nullptr},
               {"queue",
                {{"running", q.running_id.has_value()},
                 {"queued", q.queued},
                 {"max_queued", ctx.queue->max_queued()}}}});
  });

  http.Post("/sdapi/v1/png-info", [](const httplib::Request& req, httplib::Response& res) {
    const json j = parse_json_object(req);
    const std::string image = string_field(j, "image", "");
    if (image.empty()) throw RequestError{422, "image (base64 PNG) is required", "image"};
    const auto bytes = base64_decode(image);
    if (!bytes) throw RequestError{422, "image is not valid base64", "image"};
    std::string info;
    try {
      info = sd::png_parameters(*bytes, "image");
    } catch (const sinter::Error& e) {
      throw RequestError{422, e.what(), "image"};
    }
    send_json(res, 200,
              {{"info", info},
               {"items", info.empty() ? json::object() : json{{"parameters", info}}},
               {"parameters", info.empty() ? json::object() : parse_infotext(info)}});
  });

  http.Get("/sdapi/v1/sd-models", [&ctx](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const ModelEntry& e : ctx.registry->pipelines()) {
      const bool loaded = ctx.registry->is_loaded(e.name);
      const std::string hash = loaded ? ctx.registry->pipeline(e.name).model_hash() : "";
      out.push_back({{"title", model_title(ctx, e.name)},
                     {"model_name", e.name},
                     {"hash", loaded ? json(hash) : json(nullptr)},
                     {"sha256", nullptr},
                     {"filename", e.name},
                     {"config", nullptr}});
    }
    send_json(res, 200, out);
  });
  http.Get("/sdapi/v1/samplers", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, sampler_list());
  });
  http.Get("/sdapi/v1/schedulers", [](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& [name, label] :
         std::vector<std::pair<std::string, std::string>>{{"automatic", "Automatic"},
                                                          {"uniform", "Uniform"},
                                                          {"karras", "Karras"},
                                                          {"exponential", "Exponential"},
                                                          {"sgm_uniform", "SGM Uniform"}})
      out.push_back({{"name", name},
                     {"label", label},
                     {"aliases", nullptr},
                     {"default_rho", name == "karras" ? 7.0 : -1.0},
                     {"need_inner_model", false}});
    send_json(res, 200, out);
  });
  http.Get("/sdapi/v1/options", [&ctx](const httplib::Request&, httplib::Response& res) {
    const std::string current = ctx.registry->current();
    send_json(res, 200,
              {{"sd_model_checkpoint", model_title(ctx, current)},
               {"sd_checkpoint_hash", nullptr},
               {"samples_format", "png"},
               {"sinter_text_encoder_device", ctx.options.devices.text_encoder_device},
               {"sinter_unet_device", ctx.options.devices.unet_device},
               {"sinter_vae_device", ctx.options.devices.vae_device}});
  });
  http.Post("/sdapi/v1/options", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const json j = parse_json_object(req);
    for (const auto& [key, value] : j.items())
      if (key != "sd_model_checkpoint")
        throw RequestError{
            422, "option '" + key + "' cannot be set here (only sd_model_checkpoint)", key};
    const std::string checkpoint = string_field(j, "sd_model_checkpoint", "");
    if (!checkpoint.empty()) {
      const std::string name = checkpoint.substr(0, checkpoint.find(" ["));
      if (!ctx.registry->find_pipeline(name))
        throw RequestError{422, "no model named '" + name + "'", "sd_model_checkpoint"};
      ctx.registry->set_current(name);
    }
    send_json(res, 200, nullptr);
  });
  http.Get("/sdapi/v1/memory", [&ctx](const httplib::Request&, httplib::Response& res) {
    const int64_t total = machine_memory_bytes("MemTotal");
    const int64_t available = machine_memory_bytes("MemAvailable");
    std::string devices;
    for (const auto& d : ctx.core->available_devices())
      devices += (devices.empty() ? "" : ", ") + d.name;
    send_json(res, 200,
              {{"ram",
                {{"free", available},
                 {"used", total - available},
                 {"total", total},
                 {"process_resident", resident_bytes()},
                 {"process_peak", sinter::peak_rss_bytes()}}},
               {"cuda", {{"error", "sinter does not use CUDA; its devices: " + devices}}}});
  });
  http.Post("/sdapi/v1/refresh-checkpoints",
            [&ctx](const httplib::Request&, httplib::Response& res) {
              ctx.registry->refresh();
              send_json(res, 200, nullptr);
            });
}

}  // namespace sinter_server
