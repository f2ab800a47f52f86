// What a kernel prepares once and reuses on every run of its node: oneDNN primitives and
// weights reordered into their preferred layout, keyed by what they depend on (input shapes).
// One cache per node of a compiled graph; requests running at once share it safely. It also
// knows which of the node's inputs are graph constants: only what is made from those (and from
// shapes) may be cached.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sinter::cpu {

class PackedWeightStore;

class NodeCache {
 public:
  NodeCache() = default;
  NodeCache(std::vector<bool> constant_inputs, std::vector<bool> last_reads)
      : constant_inputs_(std::move(constant_inputs)), last_reads_(std::move(last_reads)) {}

  // True when input i is the same graph constant on every run.
  bool input_is_constant(std::size_t i) const {
    return i < constant_inputs_.size() && constant_inputs_[i];
  }
  // True when input i is an intermediate value this node reads last (and only once): its memory
  // is free for the node's output once the node has read it.
  bool input_is_last_read(std::size_t i) const { return i < last_reads_.size() && last_reads_[i]; }

  // Where packed weights are kept between processes (packed_weight_store.hpp), and the name
  // that tells this node's blobs from others' (its first output); null: nowhere.
  void use_store(const PackedWeightStore* store, std::string node_key) {
    store_ = store;
    node_key_ = std::move(node_key);
  }
  const PackedWeightStore* weight_store() const { return store_; }
  const std::string& node_key() const { return node_key_; }

  // The entry for `key`, made by `make` the first time. Entries are immutable once made.
  template <typename T>
  std::shared_ptr<const T> get_or_make(const std::string& key,
                                       const std::function<std::shared_ptr<const T>()>& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = entries_.find(key);
      if (it != entries_.end()) return std::static_pointer_cast<const T>(it->second);
    }
    // Made outside the lock (it can take milliseconds); a racing request's copy is dropped.
    std::shared_ptr<const T> made = make();
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = entries_.emplace(key, made);
    return std::static_pointer_cast<const T>(it->second);
  }

 private:
  std::vector<bool> constant_inputs_;
  std::vector<bool> last_reads_;
  const PackedWeightStore* store_ = nullptr;
  std::string node_key_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const void>> entries_;
};

}  // namespace sinter::cpu
