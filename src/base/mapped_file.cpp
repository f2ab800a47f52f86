#include "base/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/errors.hpp"

namespace sinter {

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
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (base_) ::munmap(base_, size_);
}

}  // namespace sinter
