// A whole file mapped into memory (copy-on-write, so a stray write can never reach the file).
// Tensors over the mapping keep it alive through a shared_ptr.
//
//   auto file = MappedFile::open("model.sinter");
//   const char* p = file->data();   // file->size() bytes
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace sinter {

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Gives back the physical pages wholly inside [data, data + bytes) when that range lies in a
  // mapped file (no-op otherwise): a later read faults them in again from the file, unchanged.
  // For weights a kernel has copied into a layout of its own, so that they are not resident
  // twice. Never for memory anyone writes (nothing writes mapped files).
  static void release_pages(const void* data, std::size_t bytes);
  // Whether [data, data + bytes) lies wholly inside one live mapping: the range release_pages
  // would give back.
  static bool contains(const void* data, std::size_t bytes);

  const char* data() const { return static_cast<const char*>(base_); }
  char* mutable_data() { return static_cast<char*>(base_); }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

}  // namespace sinter
