// The model cache (docs/model-cache.md). Two kinds of entries under the cache folder:
//
//   models/<model key>.sinter + .json    the converted model: graph and weights, stored once per
//                                        source model and shared by every device/shape entry
//   compiled/<entry key>.json            one compile: device, its caching properties, compile
//                                        options and static input shapes -> model key
//
// The model key hashes the source file's bytes (external data files are checked by size and
// modification time); the entry key hashes the model key, the device's caching properties,
// the compile options, the input shapes and the format version. Writes are atomic (temporary
// file + rename), so processes racing on one entry all succeed and leave one copy. A damaged
// entry is reported in one warning, removed and rebuilt. Size is capped with LRU eviction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.hpp"
#include "sinter/core.hpp"

namespace sinter::runtime {

class ModelCache {
 public:
  ModelCache(std::string dir, int64_t max_bytes);

  const std::string& dir() const { return dir_; }
  static std::string model_key(std::string_view model_bytes);
  static std::string compiled_key(const std::string& model_key, const DeviceInfo& device,
                                  const std::map<std::string, std::string>& options,
                                  const std::map<std::string, Shape>& shapes);

  // The converted model for `model_key`, or nullptr on a miss. The entry's external data files
  // (relative to the model's folder) must exist next to this model with the size and time they
  // had; otherwise it is a miss. A damaged entry is removed with one warning.
  std::shared_ptr<ir::Graph> load_model(const std::string& model_key, const std::string& model_dir);
  void store_model(const std::string& model_key, const ir::Graph& graph, const std::string& source,
                   const std::string& model_dir, const std::set<std::string>& external_files);

  // The folder where devices keep copies they make of this model's weights (the CPU's packed
  // weights, CompileOptions::weights_cache_dir); counted and removed with the model's entry.
  std::string packed_dir(const std::string& model_key) const;

  // True when the compile entry exists and names `model_key`; marks it used.
  bool has_compiled(const std::string& entry_key, const std::string& model_key);
  void store_compiled(const std::string& entry_key, const std::string& model_key,
                      const std::string& source, const DeviceInfo& device,
                      const std::map<std::string, std::string>& options,
                      const std::map<std::string, Shape>& shapes);

  // Sizes recorded in a compile's entry for later memory preflights (-1 when not recorded):
  // kActivationBytes, the peak of intermediate values measured in a run of this compile, with
  // the kernels' working memory where the device knows it; kPackedWeightBytes, what the
  // device's packed weight copies add to the weights as stored (Winograd's transformed
  // weights; negative where smaller copies replace them), known once the device has compiled.
  static constexpr const char* kActivationBytes = "activation_bytes";
  static constexpr const char* kPackedWeightBytes = "packed_weight_bytes";
  int64_t recorded_bytes(const std::string& entry_key, const char* field) const;
  void record_bytes(const std::string& entry_key, const char* field, int64_t bytes);

  std::vector<CacheEntry> list() const;  // most recently used first
  int64_t total_bytes() const;
  // Removes least-recently-used models (with their compile entries) until the cache holds at
  // most `max_bytes`; returns the bytes freed.
  int64_t prune(int64_t max_bytes);
  int64_t clear();
  int64_t max_bytes() const { return max_bytes_; }

 private:
  std::string model_path(const std::string& key, const char* ext) const;
  std::string compiled_path(const std::string& key) const;
  void remove_model(const std::string& key);

  std::string dir_;
  int64_t max_bytes_;
};

}  // namespace sinter::runtime
