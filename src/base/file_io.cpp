#include "base/file_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "base/errors.hpp"

namespace sinter {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  SINTER_CHECK(in, io_error, "cannot open '{}': {}", path, std::strerror(errno));
  // One allocation of the file's size: model files run to gigabytes.
  const std::streamoff size = in.tellg();
  SINTER_CHECK(size >= 0, io_error, "cannot size '{}'", path);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), size);
  SINTER_CHECK(in.gcount() == size, io_error, "cannot read '{}' ({} of {} bytes)", path,
               static_cast<int64_t>(in.gcount()), static_cast<int64_t>(size));
  return bytes;
}

void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& write) {
  // The temporary name carries the process id: processes racing on one path never share one.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SINTER_CHECK(out, io_error, "cannot create '{}': {}", tmp, std::strerror(errno));
    write(out);
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      raise(ErrorCategory::io_error, "cannot write '{}' (disk full?)", tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    raise(ErrorCategory::io_error, "cannot rename '{}' to '{}': {}", tmp, path, std::strerror(err));
  }
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, [&bytes](std::ostream& out) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

}  // namespace sinter
