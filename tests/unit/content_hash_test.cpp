// content_hash.hpp's AVX2 XXH3 against libxxhash's own (the "sse2" variant, which
// calls the library): XXH3 takes a different path for 0, 1-3, 4-8, 9-16, 17-128, 129-240 bytes
// and for longer inputs (64-byte stripes in 1 KiB blocks, then a last partial stripe), so the
// lengths cross each boundary, at every alignment of a 64-byte line. Also the published XXH3-64
// of the empty input, from xxHash's documentation, so the reference is checked too.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "base/content_hash.hpp"

using namespace sinter;

namespace {

std::vector<std::size_t> lengths() {
  std::vector<std::size_t> out;
  for (std::size_t n = 0; n <= 260; ++n) out.push_back(n);
  for (std::size_t n : {1023u, 1024u, 1025u, 2047u, 2048u, 4095u, 4096u, 65553u, 1u << 20})
    out.push_back(n);
  return out;
}

}  // namespace

TEST(ContentHash, VariantsComputeTheLibrarysXxh3) {
  std::vector<unsigned char> bytes((1u << 20) + 128);
  std::mt19937 rng(7);
  for (auto& b : bytes) b = static_cast<unsigned char>(rng());
  int compared = 0;
  for (const char* variant : {"avx2"}) {
    uint64_t probe = 0;
    if (!content_hash64_with(variant, bytes.data(), 1, probe)) continue;  // not on this CPU
    for (std::size_t n : lengths())
      for (std::size_t offset : {0u, 1u, 7u, 31u, 63u}) {
        const unsigned char* p = bytes.data() + offset;
        uint64_t want64 = 0, got64 = 0;
        Hash128 want128, got128;
        ASSERT_TRUE(content_hash64_with("sse2", p, n, want64));
        ASSERT_TRUE(content_hash64_with(variant, p, n, got64));
        ASSERT_TRUE(content_hash128_with("sse2", p, n, want128));
        ASSERT_TRUE(content_hash128_with(variant, p, n, got128));
        ASSERT_EQ(got64, want64) << variant << ", " << n << " bytes at offset " << offset;
        ASSERT_EQ(got128.low, want128.low) << variant << ", " << n << " bytes";
        ASSERT_EQ(got128.high, want128.high) << variant << ", " << n << " bytes";
        ++compared;
      }
  }
  // The default variant is one of them.
  uint64_t want = 0;
  ASSERT_TRUE(content_hash64_with("sse2", bytes.data(), bytes.size(), want));
  EXPECT_EQ(content_hash64(bytes.data(), bytes.size()), want) << content_hash_variant();
  if (compared == 0) GTEST_SKIP() << "this CPU has no AVX2";
}

TEST(ContentHash, EmptyInputHasThePublishedValue) {
  // XXH3_64bits("", 0) with seed 0, as xxHash's README and tests give it.
  EXPECT_EQ(content_hash64(nullptr, 0), UINT64_C(0x2D06800538D394C2));
  uint64_t h = 0;
  ASSERT_TRUE(content_hash64_with("sse2", nullptr, 0, h));
  EXPECT_EQ(h, UINT64_C(0x2D06800538D394C2));
  EXPECT_FALSE(content_hash64_with("neon", nullptr, 0, h)) << "an unknown variant is refused";
}
