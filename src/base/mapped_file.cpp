#include "base/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

#include "base/errors.hpp"

namespace sinter {

namespace {

// The live mappings (base address -> size), so that release_pages only ever touches them.
std::mutex& mappings_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::uintptr_t, std::size_t>& mappings() {
  static std::map<std::uintptr_t, std::size_t> m;
  return m;
}

}  // namespace

bool MappedFile::contains(const void* data, std::size_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  std::lock_guard<std::mutex> lock(mappings_mutex());
  auto it = mappings().upper_bound(begin);
  if (it == mappings().begin()) return false;
  --it;
  return begin + bytes <= it->first + it->second;
}

void MappedFile::release_pages(const void* data, std::size_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t first = (begin + page - 1) / page * page,
                       last = (begin + bytes) / page * page;
  if (bytes == 0 || last <= first || !contains(data, bytes)) return;
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SINTER_CHECK(fd >= 0, io_error, "cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    raise(ErrorCategory::io_error, "cannot stat '{}': {}", path, std::strerror(err));
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<std::size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      raise(ErrorCategory::io_error, "cannot map '{}' ({} bytes): {}", path, f->size_,
            std::strerror(err));
    }
    f->base_ = p;
    std::lock_guard<std::mutex> lock(mappings_mutex());
    mappings()[reinterpret_cast<std::uintptr_t>(p)] = f->size_;
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (!base_) return;
  std::lock_guard<std::mutex> lock(mappings_mutex());
  mappings().erase(reinterpret_cast<std::uintptr_t>(base_));
  ::munmap(base_, size_);
}

}  // namespace sinter
