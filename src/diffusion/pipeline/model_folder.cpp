#include "diffusion/pipeline/model_folder.hpp"

#include <sinter/error.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

namespace sinter::diffusion {

namespace {

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCategory::io_error, "cannot read " + path.string());
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    if (!j.is_object())
      throw Error(ErrorCategory::invalid_model, path.string() + " is not a JSON object");
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCategory::invalid_model, path.string() + " is not valid JSON: " + e.what());
  }
}

// The model file of a sub-model folder: model.onnx as Optimum and diffusers write it, or
// model.sinter as `sinter convert DIR` writes it.
std::filesystem::path model_file(const std::filesystem::path& root, const std::string& name) {
  const std::filesystem::path converted = root / name / "model.sinter";
  if (std::filesystem::is_regular_file(converted)) return converted;
  const std::filesystem::path file = root / name / "model.onnx";
  if (!std::filesystem::is_regular_file(file))
    throw Error(ErrorCategory::io_error, "pipeline " + root.string() + ": " + name +
                                             " model missing (expected " + file.string() + ")");
  return file;
}

template <typename T>
void read_key(const nlohmann::json& j, const char* key, T& value,
              const std::filesystem::path& file) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    value = j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCategory::invalid_model,
                file.string() + ": '" + key + "' has the wrong type (" + j[key].dump() + ")");
  }
}

SchedulerConfig read_scheduler(const std::filesystem::path& file) {
  const nlohmann::json j = read_json(file);
  SchedulerConfig c;
  read_key(j, "num_train_timesteps", c.num_train_timesteps, file);
  read_key(j, "beta_start", c.beta_start, file);
  read_key(j, "beta_end", c.beta_end, file);
  read_key(j, "beta_schedule", c.beta_schedule, file);
  read_key(j, "prediction_type", c.prediction_type, file);
  read_key(j, "steps_offset", c.steps_offset, file);
  read_key(j, "clip_sample", c.clip_sample, file);
  read_key(j, "clip_sample_range", c.clip_sample_range, file);
  if (j.contains("set_alpha_to_one") && j["set_alpha_to_one"].is_boolean())
    c.set_alpha_to_one = j["set_alpha_to_one"].get<bool>();
  read_key(j, "skip_prk_steps", c.skip_prk_steps, file);
  read_key(j, "algorithm_type", c.algorithm_type, file);
  if (j.contains("timestep_spacing") && j["timestep_spacing"].is_string())
    c.timestep_spacing = j["timestep_spacing"].get<std::string>();
  if (j.contains("trained_betas") && !j["trained_betas"].is_null())
    throw Error(ErrorCategory::invalid_model,
                file.string() + ": trained_betas (an explicit beta list) is not supported yet");
  return c;
}

}  // namespace

ModelFolder ModelFolder::read(const std::filesystem::path& root) {
  if (!std::filesystem::is_directory(root))
    throw Error(ErrorCategory::io_error, "pipeline folder " + root.string() + " does not exist");
  ModelFolder f;
  f.root = root;
  read_json(root / "model_index.json");  // present and well-formed: this is a pipeline folder
  f.text_encoder = model_file(root, "text_encoder");
  f.unet = model_file(root, "unet");
  f.vae_decoder = model_file(root, "vae_decoder");
  f.has_vae_encoder = std::filesystem::is_regular_file(root / "vae_encoder" / "model.onnx") ||
                      std::filesystem::is_regular_file(root / "vae_encoder" / "model.sinter");
  if (f.has_vae_encoder) f.vae_encoder = model_file(root, "vae_encoder");
  f.tokenizer = root / "tokenizer";
  for (const char* name : {"vocab.json", "merges.txt"})
    if (!std::filesystem::is_regular_file(f.tokenizer / name))
      throw Error(ErrorCategory::io_error, "pipeline " + root.string() + ": tokenizer file " +
                                               (f.tokenizer / name).string() + " missing");
  f.scheduler = read_scheduler(root / "scheduler" / "scheduler_config.json");
  const std::filesystem::path vae_config = root / "vae_decoder" / "config.json";
  if (std::filesystem::is_regular_file(vae_config))
    read_key(read_json(vae_config), "scaling_factor", f.vae_scaling_factor, vae_config);
  return f;
}

}  // namespace sinter::diffusion
