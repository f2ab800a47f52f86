// The models a server offers: one pipeline folder (--model) or every entry of a models folder
// (--models-dir): pipeline folders (with model_index.json) for generation, and .onnx / .sinter
// files for the Open Inference Protocol. Requests name models only by these names, never by
// path. Pipelines load on first use and stay loaded; the sub-models of a pipeline are offered
// to the inference protocol as "<pipeline>.text_encoder", ".unet", ".vae_decoder".
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sinter/diffusion.hpp>
#include <sinter/sinter.hpp>
#include <string>
#include <vector>

namespace sinter_server {

struct ModelEntry {
  enum class Kind { pipeline, model };
  std::string name;  // the folder's or file's name (a file without its extension)
  std::filesystem::path path;
  Kind kind = Kind::pipeline;
};

// A plain model for the inference protocol, shared by requests: compiled once per set of
// input shapes a request brings.
struct ServedModel {
  sinter::Model model;
  std::map<std::string, sinter::CompiledModel> compiled;  // by the inputs' shapes
  std::mutex mutex;                                       // one inference at a time per model
};

class ModelRegistry {
 public:
  // `single_pipeline` (a folder) or `models_dir`; exactly one is non-empty.
  ModelRegistry(const sinter::Core& core, std::string single_pipeline, std::string models_dir,
                sinter::diffusion::PipelineOptions options);

  // Rescans the models folder (A1111's refresh-checkpoints); loaded pipelines stay loaded.
  void refresh();
  std::vector<ModelEntry> pipelines() const;
  // Every model the inference protocol serves: plain files and each pipeline's sub-models.
  std::vector<ModelEntry> inference_models() const;
  std::optional<ModelEntry> find_pipeline(const std::string& name) const;

  // The pipeline generation uses when a request names none (A1111's sd_model_checkpoint).
  std::string current() const;
  // Throws sinter::Error (invalid_argument) for a name that is not a pipeline here.
  void set_current(const std::string& name);

  // Loads (once) and returns the named pipeline. Generation runs one job at a time, so the
  // returned pipeline is used by one thread at a time.
  // `device` (empty: the server's per-stage devices) runs every stage there; each device gets
  // its own loaded copy.
  sinter::diffusion::Pipeline& pipeline(const std::string& name, const std::string& device = "");
  bool is_loaded(const std::string& name) const;
  // Reads (once) the named inference model; nullptr for an unknown name.
  std::shared_ptr<ServedModel> served_model(const std::string& name);

  const sinter::Core& core() const { return core_; }
  const sinter::diffusion::PipelineOptions& options() const { return options_; }

 private:
  std::vector<ModelEntry> scan() const;

  const sinter::Core& core_;
  std::string single_, dir_;
  sinter::diffusion::PipelineOptions options_;
  mutable std::mutex mutex_;
  std::vector<ModelEntry> entries_;
  std::string current_;
  std::map<std::string, std::unique_ptr<sinter::diffusion::Pipeline>> loaded_;
  std::map<std::string, std::shared_ptr<ServedModel>> served_;
};

}  // namespace sinter_server
