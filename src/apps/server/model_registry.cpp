#include "apps/server/model_registry.hpp"

#include <algorithm>

namespace sinter_server {

namespace fs = std::filesystem;
using sinter::Error;
using sinter::ErrorCategory;

namespace {

// The sub-model folders of a pipeline the inference protocol offers.
const char* const kSubModels[] = {"text_encoder", "unet", "vae_decoder", "vae_encoder"};

fs::path sub_model_file(const fs::path& pipeline, const std::string& sub) {
  for (const char* file : {"model.sinter", "model.onnx"})
    if (fs::is_regular_file(pipeline / sub / file)) return pipeline / sub / file;
  return {};
}

}  // namespace

ModelRegistry::ModelRegistry(const sinter::Core& core, std::string single_pipeline,
                             std::string models_dir, sinter::diffusion::PipelineOptions options)
    : core_(core),
      single_(std::move(single_pipeline)),
      dir_(std::move(models_dir)),
      options_(std::move(options)) {
  refresh();
  const auto p = pipelines();
  if (!p.empty()) current_ = p.front().name;
}

std::vector<ModelEntry> ModelRegistry::scan() const {
  std::vector<ModelEntry> out;
  if (!single_.empty()) {
    if (!fs::is_regular_file(fs::path(single_) / "model_index.json"))
      throw Error(ErrorCategory::io_error,
                  single_ + " is not a pipeline folder (no model_index.json)");
    const fs::path p = fs::weakly_canonical(single_);
    out.push_back({p.filename().string(), p, ModelEntry::Kind::pipeline});
    return out;
  }
  if (!fs::is_directory(dir_))
    throw Error(ErrorCategory::io_error, "models folder " + dir_ + " does not exist");
  for (const fs::directory_entry& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (e.is_directory() && fs::is_regular_file(e.path() / "model_index.json"))
      out.push_back({name, e.path(), ModelEntry::Kind::pipeline});
    else if (e.is_regular_file() &&
             (e.path().extension() == ".onnx" || e.path().extension() == ".sinter"))
      out.push_back({e.path().stem().string(), e.path(), ModelEntry::Kind::model});
  }
  std::sort(out.begin(), out.end(),
            [](const ModelEntry& a, const ModelEntry& b) { return a.name < b.name; });
  return out;
}

void ModelRegistry::refresh() {
  std::vector<ModelEntry> entries = scan();
  std::lock_guard<std::mutex> lock(mutex_);
  entries_ = std::move(entries);
}

std::vector<ModelEntry> ModelRegistry::pipelines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ModelEntry> out;
  for (const auto& e : entries_)
    if (e.kind == ModelEntry::Kind::pipeline) out.push_back(e);
  return out;
}

std::vector<ModelEntry> ModelRegistry::inference_models() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ModelEntry> out;
  for (const auto& e : entries_) {
    if (e.kind == ModelEntry::Kind::model) {
      out.push_back(e);
      continue;
    }
    for (const char* sub : kSubModels) {
      const fs::path file = sub_model_file(e.path, sub);
      if (!file.empty()) out.push_back({e.name + "." + sub, file, ModelEntry::Kind::model});
    }
  }
  return out;
}

std::optional<ModelEntry> ModelRegistry::find_pipeline(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& e : entries_)
    if (e.kind == ModelEntry::Kind::pipeline && e.name == name) return e;
  return std::nullopt;
}

std::string ModelRegistry::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

void ModelRegistry::set_current(const std::string& name) {
  if (!find_pipeline(name))
    throw Error(ErrorCategory::invalid_argument, "no pipeline named '" + name + "'");
  std::lock_guard<std::mutex> lock(mutex_);
  current_ = name;
}

sinter::diffusion::Pipeline& ModelRegistry::pipeline(const std::string& name,
                                                     const std::string& device) {
  const std::optional<ModelEntry> entry = find_pipeline(name);
  if (!entry) throw Error(ErrorCategory::invalid_argument, "no pipeline named '" + name + "'");
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = device.empty() ? name : name + "@" + device;
  auto it = loaded_.find(key);
  if (it == loaded_.end()) {
    const sinter::diffusion::PipelineOptions options =
        device.empty() ? options_ : sinter::diffusion::PipelineOptions{device, device, device};
    it = loaded_
             .emplace(key,
                      std::make_unique<sinter::diffusion::Pipeline>(
                          sinter::diffusion::Pipeline::load(core_, entry->path.string(), options)))
             .first;
  }
  return *it->second;
}

bool ModelRegistry::is_loaded(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return loaded_.count(name) > 0;
}

std::shared_ptr<ServedModel> ModelRegistry::served_model(const std::string& name) {
  std::optional<ModelEntry> entry;
  for (const auto& e : inference_models())
    if (e.name == name) entry = e;
  if (!entry) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = served_.find(name);
  if (it == served_.end()) {
    auto m = std::make_shared<ServedModel>();
    m->model = core_.read_model(entry->path.string());
    it = served_.emplace(name, m).first;
  }
  return it->second;
}

}  // namespace sinter_server
