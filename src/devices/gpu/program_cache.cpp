#include "devices/gpu/program_cache.hpp"

#include <xxhash.h>

#include <cstring>
#include <filesystem>

#include "base/file_io.hpp"
#include "base/logging.hpp"

namespace sinter::gpu {

namespace {

constexpr char kMagic[8] = {'S', 'I', 'N', 'T', 'E', 'R', 'C', 'L'};
constexpr std::size_t kHeader = 24;

std::string path_of(const std::string& dir, const std::string& key) {
  return dir + "/opencl-" + key + ".bin";
}

}  // namespace

std::optional<std::string> load_program_binary(const std::string& cache_dir,
                                               const std::string& key) {
  if (cache_dir.empty()) return std::nullopt;
  const std::string path = path_of(cache_dir, key);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const std::exception& e) {
    drop_program_binary(cache_dir, key, e.what());
    return std::nullopt;
  }
  uint64_t length = 0, hash = 0;
  if (bytes.size() >= kHeader) {
    std::memcpy(&length, bytes.data() + 8, 8);
    std::memcpy(&hash, bytes.data() + 16, 8);
  }
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, 8) != 0 ||
      length != bytes.size() - kHeader || XXH3_64bits(bytes.data() + kHeader, length) != hash) {
    drop_program_binary(cache_dir, key, "truncated or corrupt");
    return std::nullopt;
  }
  return bytes.substr(kHeader);
}

void store_program_binary(const std::string& cache_dir, const std::string& key,
                          const std::string& binary) {
  if (cache_dir.empty() || binary.empty()) return;
  try {
    std::filesystem::create_directories(cache_dir);
    std::string file(kMagic, 8);
    const uint64_t length = binary.size(), hash = XXH3_64bits(binary.data(), binary.size());
    file.append(reinterpret_cast<const char*>(&length), 8);
    file.append(reinterpret_cast<const char*>(&hash), 8);
    file += binary;
    write_file_atomically(path_of(cache_dir, key), file);
  } catch (const std::exception& e) {
    log().warn("model cache: could not store the OpenCL program binary: {}", e.what());
  }
}

void drop_program_binary(const std::string& cache_dir, const std::string& key,
                         const std::string& why) {
  const std::string path = path_of(cache_dir, key);
  log().warn("model cache: OpenCL program binary {} is unusable ({}); removed, rebuilding", path,
             why);
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

}  // namespace sinter::gpu
