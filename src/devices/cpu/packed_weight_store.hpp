// Packed weights kept as files in the model cache, so that a later start maps them instead of
// packing again. Packing SD 1.5's UNet writes 3.4 GB of fresh memory on its first inference, a
// page fault per page (2-9 s on a 2-vCPU VM), while pages of a file already in the page cache
// map in a fraction of that. A layer packed in memory is written to its file by a background
// thread (the inference does not wait; the store waits for the writes when it goes, so a
// process ends with its blobs whole) and sealed with a checksum; the next process maps it.
//
// One blob per node, weight input and layout; its key names what the packed bytes depend on
// (the node, the plain and packed layouts, samples of the plain weights, oneDNN's version) and
// the folder is the model's own (its content key), so a blob never serves other weights. A blob
// that is missing, of the wrong size or failing its checksum is packed again (and replaced).
// Blob format: a 4096-byte header (magic "SNTRPACK", u32 version 2, u32 0, u64 payload bytes,
// u64 checksum: XXH3-64 of the XXH3-64s of the payload's 4 MiB chunks, checked on the OpenMP
// threads) and the payload. Written to a temporary name, then renamed. Blobs of another version
// are packed again without a warning.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace sinter::cpu {

// A sealed blob's payload, mapped read-only; unmapped when the last owner goes.
class PackedBlob {
 public:
  ~PackedBlob();
  PackedBlob(const PackedBlob&) = delete;
  PackedBlob& operator=(const PackedBlob&) = delete;
  const void* data() const { return static_cast<const char*>(base_) + kHeaderBytes; }
  std::size_t bytes() const { return bytes_; }

  static constexpr std::size_t kHeaderBytes = 4096;

 private:
  friend class PackedWeightStore;
  PackedBlob() = default;
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
};

class PackedWeightStore {
 public:
  // Blobs live in `dir` (made when the first is written).
  explicit PackedWeightStore(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  // Waits for the writes still queued.
  ~PackedWeightStore();
  PackedWeightStore(const PackedWeightStore&) = delete;
  PackedWeightStore& operator=(const PackedWeightStore&) = delete;

  // The sealed blob `key` if it holds exactly `bytes` bytes that pass their checksum; nullptr
  // otherwise (a damaged blob is removed, with a warning).
  std::shared_ptr<const PackedBlob> find(const std::string& key, std::size_t bytes) const;
  // Queues `bytes` bytes at `data` (kept alive by `owner` until written) as the blob `key`.
  // Failures (no space, no permission) are warnings; nothing is retried.
  void write_later(std::string key, std::shared_ptr<const void> owner, const void* data,
                   std::size_t bytes) const;

 private:
  struct Job {
    std::string key;
    std::shared_ptr<const void> owner;
    const void* data;
    std::size_t bytes;
  };
  void write(const Job& job) const;
  void drain() const;

  std::string dir_;
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  mutable std::deque<Job> jobs_;
  mutable bool closing_ = false;
  mutable std::thread writer_;
  mutable bool failed_ = false;  // the writer's own: set after a write failed
};

}  // namespace sinter::cpu
