#include "devices/cpu/packed_weight_store.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "base/content_hash.hpp"
#include "base/large_blocks.hpp"
#include "base/logging.hpp"

namespace sinter::cpu {

namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'S', 'N', 'T', 'R', 'P', 'A', 'C', 'K'};
// 2: the payload hash is taken per 4 MiB chunk (payload_hash below).
constexpr uint32_t kVersion = 2;
constexpr std::size_t kHashChunk = 4 << 20;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t payload_bytes;
  uint64_t payload_hash;
};

// Closes the descriptor when it goes.
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// Writes all `bytes` at `offset`; false on an error (errno says which).
bool write_all(int fd, const void* data, std::size_t bytes, off_t offset) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd, p, std::min<std::size_t>(bytes, 64 << 20), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<std::size_t>(n);
    offset += n;
  }
  return true;
}

// XXH3-64 of the XXH3-64s of the payload's 4 MiB chunks: chunks can be checked on several
// threads. A new process checks every blob it maps before using it; on one thread that was
// 0.7 s of SD 1.5's cached first UNet step, the other cores idle. `parallel`: on the OpenMP
// threads (the inference's own, idle meanwhile); the writer thread hashes alone.
uint64_t payload_hash(const void* data, std::size_t bytes, bool parallel) {
  const auto* p = static_cast<const char*>(data);
  const std::size_t chunks = (bytes + kHashChunk - 1) / kHashChunk;
  std::vector<uint64_t> hashes(chunks);
#pragma omp parallel for schedule(dynamic, 1) if (parallel && chunks > 1)
  for (std::size_t c = 0; c < chunks; ++c)
    hashes[c] = content_hash64(p + c * kHashChunk, std::min(kHashChunk, bytes - c * kHashChunk));
  return content_hash64(hashes.data(), hashes.size() * sizeof(uint64_t));
}

}  // namespace

PackedBlob::~PackedBlob() {
  if (base_) ::munmap(base_, kHeaderBytes + bytes_);
}

PackedWeightStore::~PackedWeightStore() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::shared_ptr<const PackedBlob> PackedWeightStore::find(const std::string& key,
                                                          std::size_t bytes) const {
  const std::string path = dir_ + "/" + key + ".packed";
  Descriptor f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return nullptr;
  const off_t size = ::lseek(f.fd, 0, SEEK_END);
  auto blob = std::shared_ptr<PackedBlob>(new PackedBlob);
  std::string damage;
  if (size != static_cast<off_t>(PackedBlob::kHeaderBytes + bytes)) {
    damage = "of the wrong size";
  } else {
    void* base = map_file_aligned(f.fd, PackedBlob::kHeaderBytes + bytes);
    if (base == MAP_FAILED) return nullptr;
    blob->base_ = base;
    blob->bytes_ = bytes;
    Header h;
    std::memcpy(&h, base, sizeof h);
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 && h.version != kVersion) {
      // Made by another sinter: not damage, no warning.
      log().debug("model cache: packed weights {} are of version {}; packing them again", path,
                  h.version);
      std::error_code ignored;
      fs::remove(path, ignored);
      return nullptr;
    }
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.payload_bytes != bytes)
      damage = "not packed weights of this version";
    else if (payload_hash(blob->data(), bytes, true) != h.payload_hash)
      damage = "failing their checksum";
  }
  if (damage.empty()) return blob;
  log().warn("model cache: packed weights {} are {}; packing them again", path, damage);
  std::error_code ignored;
  fs::remove(path, ignored);
  return nullptr;
}

void PackedWeightStore::write_later(std::string key, std::shared_ptr<const void> owner,
                                    const void* data, std::size_t bytes) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back({std::move(key), std::move(owner), data, bytes});
    if (!writer_.joinable()) writer_ = std::thread([this] { drain(); });
  }
  wake_.notify_one();
}

void PackedWeightStore::drain() const {
  // Below the inference's threads: on a machine whose cores they fill, the blobs are written in
  // the gaps (and at the end, when the store waits for them), not instead of computing.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return closing_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closing, and nothing left to write
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    write(job);
  }
}

void PackedWeightStore::write(const Job& job) const {
  static std::atomic<uint64_t> serial{0};
  if (failed_) return;  // one warning is enough: the disk is full, or the folder not writable
  std::error_code ec;
  fs::create_directories(dir_, ec);
  const std::string path = dir_ + "/" + job.key + ".packed";
  const std::string temporary =
      path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(serial++);
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.payload_bytes = job.bytes;
  h.payload_hash = payload_hash(job.data, job.bytes, false);
  char header[PackedBlob::kHeaderBytes] = {};
  std::memcpy(header, &h, sizeof h);
  Descriptor f{::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  const bool written = f.fd >= 0 && write_all(f.fd, header, sizeof header, 0) &&
                       write_all(f.fd, job.data, job.bytes, sizeof header);
  if (written && ::close(std::exchange(f.fd, -1)) == 0) {
    fs::rename(temporary, path, ec);
    if (!ec) return;
  }
  const std::string why = ec ? ec.message() : std::strerror(errno);
  log().warn("model cache: could not keep packed weights in {} ({}); later starts pack them again",
             dir_, why);
  fs::remove(temporary, ec);
  failed_ = true;
}

}  // namespace sinter::cpu
