#include "runtime/model_cache.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/content_hash.hpp"
#include "base/errors.hpp"
#include "base/file_io.hpp"
#include "base/logging.hpp"
#include "ir/sinter_format.hpp"

namespace sinter::runtime {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string hash128(const void* data, std::size_t size) {
  const Hash128 h = content_hash128(data, size);
  return fmt::format("{:016x}{:016x}", h.high, h.low);
}

// Size and modification time identify an external data file without reading it. `location` is
// relative to the model's folder `dir`.
json file_stamp(const std::string& dir, const std::string& location) {
  struct stat st {};
  const std::string path = (fs::path(dir.empty() ? "." : dir) / location).string();
  if (::stat(path.c_str(), &st) != 0) return nullptr;
  return {{"location", location},
          {"size", static_cast<int64_t>(st.st_size)},
          {"mtime_ns", static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec}};
}

void touch(const std::string& path) {
  std::error_code ec;
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
}

int64_t unix_time(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_mtim.tv_sec) : 0;
}

int64_t file_bytes(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

// Bytes of the files under `dir` (0 when it does not exist).
int64_t folder_bytes(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) total += file_bytes(e.path());
  return total;
}

json read_json(const std::string& path) {
  return json::parse(read_file(path));
}

}  // namespace

ModelCache::ModelCache(std::string dir, int64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {
  std::error_code ec;
  fs::create_directories(fs::path(dir_) / "models", ec);
  fs::create_directories(fs::path(dir_) / "compiled", ec);
  SINTER_CHECK(!ec, cache_error, "cannot create the model cache folder '{}': {}", dir_,
               ec.message());
}

std::string ModelCache::model_path(const std::string& key, const char* ext) const {
  return (fs::path(dir_) / "models" / (key + ext)).string();
}

std::string ModelCache::compiled_path(const std::string& key) const {
  return (fs::path(dir_) / "compiled" / (key + ".json")).string();
}

std::string ModelCache::model_key(std::string_view model_bytes) {
  return hash128(model_bytes.data(), model_bytes.size());
}

std::string ModelCache::compiled_key(const std::string& model_key, const DeviceInfo& device,
                                     const std::map<std::string, std::string>& options,
                                     const std::map<std::string, Shape>& shapes) {
  const json j = {{"model", model_key},
                  {"device", device.name},
                  {"caching_properties", device.caching_properties},
                  {"options", options},
                  {"shapes", shapes},
                  {"format_version", ir::kSinterFormatVersion}};
  const std::string text = j.dump();
  return hash128(text.data(), text.size());
}

std::string ModelCache::packed_dir(const std::string& model_key) const {
  return model_path(model_key, ".packed");
}

void ModelCache::remove_model(const std::string& key) {
  std::error_code ec;
  fs::remove(model_path(key, ".sinter"), ec);
  fs::remove(model_path(key, ".json"), ec);
  fs::remove_all(packed_dir(key), ec);
}

std::shared_ptr<ir::Graph> ModelCache::load_model(const std::string& key,
                                                  const std::string& model_dir) {
  const std::string meta_path = model_path(key, ".json");
  const std::string data_path = model_path(key, ".sinter");
  if (!fs::exists(meta_path) && !fs::exists(data_path)) return nullptr;
  try {
    const json meta = read_json(meta_path);
    // External data files must be the ones the entry was built from.
    for (const auto& f : meta.at("external_files")) {
      const std::string location = f.at("location").get<std::string>();
      if (file_stamp(model_dir, location) != f) {
        log().info(
            "model cache: external data '{}' next to the model is missing or changed; "
            "not using entry {}",
            location, key);
        return nullptr;
      }
    }
    auto graph = ir::read_sinter_file(data_path);
    touch(data_path);
    return graph;
  } catch (const std::exception& e) {
    log().warn("model cache: entry {} in {} is damaged ({}); removing it and rebuilding", key, dir_,
               e.what());
    remove_model(key);
    return nullptr;
  }
}

void ModelCache::store_model(const std::string& key, const ir::Graph& graph,
                             const std::string& source, const std::string& model_dir,
                             const std::set<std::string>& external) {
  json files = json::array();
  for (const auto& f : external) files.push_back(file_stamp(model_dir, f));
  const json meta = {
      {"source", source}, {"external_files", files}, {"format_version", ir::kSinterFormatVersion}};
  ir::SinterWriteOptions options;
  options.source = source;
  options.producer = "sinter model cache";
  // Data first, then the metadata that makes the entry visible as complete.
  ir::write_sinter_file(graph, model_path(key, ".sinter"), options);
  write_file_atomically(model_path(key, ".json"), meta.dump(2));
}

bool ModelCache::has_compiled(const std::string& entry_key, const std::string& model_key) {
  const std::string path = compiled_path(entry_key);
  if (!fs::exists(path)) return false;
  try {
    const json j = read_json(path);
    if (j.at("model").get<std::string>() != model_key)
      throw std::runtime_error("names another model");
    touch(path);
    return true;
  } catch (const std::exception& e) {
    log().warn("model cache: compile entry {} is damaged ({}); removing it and rebuilding",
               entry_key, e.what());
    std::error_code ec;
    fs::remove(path, ec);
    return false;
  }
}

void ModelCache::store_compiled(const std::string& entry_key, const std::string& model_key,
                                const std::string& source, const DeviceInfo& device,
                                const std::map<std::string, std::string>& options,
                                const std::map<std::string, Shape>& shapes) {
  const json j = {{"model", model_key},
                  {"source", source},
                  {"device", device.name},
                  {"full_name", device.full_name},
                  {"caching_properties", device.caching_properties},
                  {"options", options},
                  {"shapes", shapes},
                  {"format_version", ir::kSinterFormatVersion}};
  write_file_atomically(compiled_path(entry_key), j.dump(2));
}

int64_t ModelCache::recorded_bytes(const std::string& entry_key, const char* field) const {
  try {
    const json j = read_json(compiled_path(entry_key));
    return j.contains(field) ? j[field].get<int64_t>() : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

void ModelCache::record_bytes(const std::string& entry_key, const char* field, int64_t bytes) {
  const std::string path = compiled_path(entry_key);
  json j = read_json(path);
  j[field] = bytes;
  write_file_atomically(path, j.dump(2));
}

std::vector<CacheEntry> ModelCache::list() const {
  std::vector<CacheEntry> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(dir_) / "models", ec)) {
    const std::string key = e.path().stem().string();
    if (e.path().extension() == ".packed" && !fs::exists(model_path(key, ".sinter"))) {
      // Packed weights of a model the cache does not hold (a .sinter file converted by the
      // user): an entry of their own, evicted like a model.
      CacheEntry info;
      info.key = key;
      info.kind = "packed";
      info.bytes = folder_bytes(e.path());
      info.last_used_unix = unix_time(e.path());
      info.source = "packed weights of a converted .sinter file";
      out.push_back(info);
      continue;
    }
    if (e.path().extension() != ".sinter") continue;
    CacheEntry info;
    info.key = key;
    info.kind = "model";
    info.bytes = file_bytes(e.path()) + file_bytes(fs::path(e.path()).replace_extension(".json")) +
                 folder_bytes(packed_dir(key));
    info.last_used_unix = unix_time(e.path());
    try {
      info.source = read_json(model_path(info.key, ".json")).at("source").get<std::string>();
    } catch (...) {
      info.source = "(damaged)";
    }
    out.push_back(info);
  }
  for (const auto& e : fs::directory_iterator(fs::path(dir_) / "compiled", ec)) {
    if (e.path().extension() != ".json") continue;
    CacheEntry info;
    info.key = e.path().stem().string();
    info.kind = "compiled";
    info.bytes = file_bytes(e.path());
    info.last_used_unix = unix_time(e.path());
    try {
      const json j = read_json(e.path().string());
      info.source = j.at("source").get<std::string>();
      info.device = j.at("device").get<std::string>();
      info.shapes = j.at("shapes").dump();
    } catch (...) {
      info.source = "(damaged)";
    }
    out.push_back(info);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.last_used_unix > b.last_used_unix; });
  return out;
}

int64_t ModelCache::total_bytes() const {
  int64_t total = 0;
  for (const auto& e : list()) total += e.bytes;
  return total;
}

int64_t ModelCache::prune(int64_t max_bytes) {
  // Group compile entries with their model; a group's last use is its newest file.
  struct Group {
    int64_t bytes = 0, last_used = 0;
    std::vector<std::string> compiled;
  };
  std::map<std::string, Group> groups;
  for (const auto& e : list()) {
    std::string model = e.key;
    if (e.kind == "compiled") {
      try {
        model = read_json(compiled_path(e.key)).at("model").get<std::string>();
      } catch (...) {
        model = "(damaged)";
      }
      groups[model].compiled.push_back(e.key);
    }
    groups[model].bytes += e.bytes;
    groups[model].last_used = std::max(groups[model].last_used, e.last_used_unix);
  }
  std::vector<std::pair<std::string, Group>> order(groups.begin(), groups.end());
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
  int64_t total = 0, freed = 0;
  for (const auto& [_, g] : order) total += g.bytes;
  for (const auto& [model, g] : order) {
    if (total <= max_bytes) break;
    std::error_code ec;
    for (const auto& c : g.compiled) fs::remove(compiled_path(c), ec);
    remove_model(model);
    total -= g.bytes;
    freed += g.bytes;
    log().info("model cache: evicted {} ({} bytes, least recently used)", model, g.bytes);
  }
  return freed;
}

int64_t ModelCache::clear() {
  // Device artefacts (OpenCL program binaries) are shared by every model: they go with the rest.
  int64_t freed = 0;
  std::error_code ec;
  const fs::path devices = fs::path(dir_) / "devices";
  for (const auto& e : fs::recursive_directory_iterator(devices, ec))
    if (e.is_regular_file(ec)) freed += static_cast<int64_t>(e.file_size(ec));
  fs::remove_all(devices, ec);
  return freed + prune(0);
}

}  // namespace sinter::runtime
