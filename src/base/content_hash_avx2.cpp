// content_hash.hpp's avx2 variant: xxHash's own XXH3 code, inlined here and built for avx2
// (XXH_VECTOR picks its avx2 accumulation loop), so it computes the library's values.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC target("avx2")
#endif

#include <immintrin.h>  // xxhash.h includes it only when the compiler targets AVX2

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

#include "base/content_hash_variants.hpp"

namespace sinter::content_hash_detail {

uint64_t hash64_avx2(const void* data, std::size_t bytes) {
  return XXH3_64bits(data, bytes);
}

Hash128 hash128_avx2(const void* data, std::size_t bytes) {
  const XXH128_hash_t h = XXH3_128bits(data, bytes);
  return {h.low64, h.high64};
}

}  // namespace sinter::content_hash_detail

#if defined(__clang__)
#pragma clang attribute pop
#endif
