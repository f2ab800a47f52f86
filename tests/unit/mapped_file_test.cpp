// MappedFile::release_pages: pages of a mapped file given back read the file's bytes again;
// memory that is not a mapped file is left alone.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

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
