// MappedFile::release_pages: pages of a mapped file given back read the file's bytes again;
// memory that is not a mapped file is left alone. And large_blocks.hpp's aligned mappings.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "base/large_blocks.hpp"
#include "base/mapped_file.hpp"

using sinter::MappedFile;

TEST(MappedFile, ReleasedPagesReadTheFileAgainAndOtherMemoryIsUntouched) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<char> bytes(page * 5);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + 3);
  const std::string path = ::testing::TempDir() + "/sinter_mapped_file_test.bin";
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  {
    auto file = MappedFile::open(path);
    ASSERT_EQ(file->size(), bytes.size());
    // A range starting mid-page: only the whole pages inside it are given back.
    MappedFile::release_pages(file->data() + page / 2, page * 3);
    EXPECT_EQ(std::vector<char>(file->data(), file->data() + file->size()), bytes);
    MappedFile::release_pages(file->data(), file->size());
    EXPECT_EQ(std::vector<char>(file->data(), file->data() + file->size()), bytes);
  }
  std::vector<char> heap = bytes;
  MappedFile::release_pages(heap.data(), heap.size());
  EXPECT_EQ(heap, bytes);
  std::remove(path.c_str());
}

// map_file_aligned: a file of no whole number of pages (5 MiB and 123 bytes) mapped at a 2 MiB
// boundary reads back its bytes, and the reservation around it is given back: the address
// space it leaves mapped is the mapping alone. allocate_block's large blocks are 2 MiB aligned.
TEST(LargeBlocks, AlignedFileMappingReadsTheFileAndKeepsNoReservation) {
  const std::size_t size = (std::size_t{5} << 20) + 123;
  std::vector<char> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 13 + 1);
  const std::string path = ::testing::TempDir() + "/sinter_large_blocks_test.bin";
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto mapped_kib = [] {  // total size of this process's mappings, from /proc/self/maps
    std::ifstream maps("/proc/self/maps");
    std::size_t total = 0;
    std::string line;
    while (std::getline(maps, line)) {
      unsigned long from = 0, to = 0;
      if (std::sscanf(line.c_str(), "%lx-%lx", &from, &to) == 2) total += (to - from) / 1024;
    }
    return total;
  };
  const std::size_t before = mapped_kib();
  void* p = sinter::map_file_aligned(fd, size);
  ASSERT_NE(p, MAP_FAILED);
  const std::size_t after = mapped_kib();
  ::close(fd);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % (std::size_t{2} << 20), 0u);
  EXPECT_EQ(std::vector<char>(static_cast<char*>(p), static_cast<char*>(p) + size), bytes);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(after - before, (size + page - 1) / page * page / 1024);
  ::munmap(p, size);
  std::remove(path.c_str());

  void* block = sinter::allocate_block(std::size_t{9} << 20);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % (std::size_t{2} << 20), 0u);
  std::free(block);
}
