// Which XXH3 variant runs (content_hash.hpp): AVX2 where this CPU and its OS support it, as
// __builtin_cpu_supports reports (it checks the OS saves the registers too), else the library.
#include "base/content_hash.hpp"

#include <cstring>

#include <xxhash.h>

#include "base/content_hash_variants.hpp"

namespace sinter {

namespace {

using namespace content_hash_detail;

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

Hash128 library_hash128(const void* data, std::size_t bytes) {
  const XXH128_hash_t h = XXH3_128bits(data, bytes);
  return {h.low64, h.high64};
}

}  // namespace

const char* content_hash_variant() {
  return has_avx2() ? "avx2" : "sse2";
}

uint64_t content_hash64(const void* data, std::size_t bytes) {
  if (has_avx2()) return hash64_avx2(data, bytes);
  return XXH3_64bits(data, bytes);
}

Hash128 content_hash128(const void* data, std::size_t bytes) {
  if (has_avx2()) return hash128_avx2(data, bytes);
  return library_hash128(data, bytes);
}

bool content_hash64_with(const char* variant, const void* data, std::size_t bytes, uint64_t& hash) {
  if (std::strcmp(variant, "avx2") == 0 && has_avx2())
    hash = hash64_avx2(data, bytes);
  else if (std::strcmp(variant, "sse2") == 0)
    hash = XXH3_64bits(data, bytes);
  else
    return false;
  return true;
}

bool content_hash128_with(const char* variant, const void* data, std::size_t bytes, Hash128& hash) {
  if (std::strcmp(variant, "avx2") == 0 && has_avx2())
    hash = hash128_avx2(data, bytes);
  else if (std::strcmp(variant, "sse2") == 0)
    hash = library_hash128(data, bytes);
  else
    return false;
  return true;
}

}  // namespace sinter
