#include "base/large_blocks.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "base/byte_workers.hpp"

namespace sinter {

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kHugeFrom = std::size_t{4} << 20;

}  // namespace

void* allocate_block(std::size_t bytes) {
  if (bytes < kHugeFrom) return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  // aligned_alloc wants a multiple of the alignment: the rounding is address space only, never
  // touched.
  void* p = std::aligned_alloc(kHugePage, (bytes + kHugePage - 1) / kHugePage * kHugePage);
  if (!p) return nullptr;
  // Only the whole huge pages of the block: the tail stays in small pages, so no memory beyond
  // what was asked for is ever resident. Advice that fails (no THP in this kernel) is harmless.
  const std::size_t whole = bytes / kHugePage * kHugePage;
  ::madvise(p, whole, MADV_HUGEPAGE);
  return p;
}

void zero_block(void* p, std::size_t bytes) {
  // Whole huge pages per thread, at least 16 MiB each: a thread costs about as much to start as
  // zeroing a few hundred KiB.
  const unsigned workers = byte_workers(bytes, std::size_t{16} << 20);
  const std::size_t share = (bytes / workers + kHugePage - 1) / kHugePage * kHugePage;
  auto* bytes_of = static_cast<char*>(p);
  run_workers(workers, [&](unsigned w) {
    const std::size_t begin = std::min(bytes, w * share), end = std::min(bytes, begin + share);
    std::memset(bytes_of + begin, 0, end - begin);
  });
}

void* map_file_aligned(int fd, std::size_t bytes) {
  if (bytes < kHugeFrom) return ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  // Reserve room for the mapping plus one huge page, then place the file at the first 2 MiB
  // boundary inside it and give back the rest of the reservation.
  void* room = ::mmap(nullptr, bytes + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (room == MAP_FAILED) return MAP_FAILED;
  const auto start = reinterpret_cast<std::uintptr_t>(room);
  const std::uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  void* p =
      ::mmap(reinterpret_cast<void*>(aligned), bytes, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    ::munmap(room, bytes + kHugePage);
    return MAP_FAILED;
  }
  if (aligned > start) ::munmap(room, aligned - start);
  // The mapping ends at a page boundary (its last page covers the file's tail).
  const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t end = start + bytes + kHugePage;
  const std::uintptr_t used = (aligned + bytes + page - 1) / page * page;
  if (end > used) ::munmap(reinterpret_cast<void*>(used), end - used);
  ::madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

}  // namespace sinter
