// XXH3 (64 and 128 bits) of large buffers: the same values as libxxhash's XXH3_64bits and
// XXH3_128bits, computed with AVX2 where the CPU has it. Debian's libxxhash is built for SSE2
// only: on a Xeon with AVX-512 it hashed a mapped 3.3 GiB file in the page cache at 4.3-5.7
// GB/s, xxHash's own AVX2 code at 12.7 (its AVX-512 code, 14.4, was not worth a third variant).
// A cached SD 1.5 start checks 6.7 GB of model and packed weights this way.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sinter {

uint64_t content_hash64(const void* data, std::size_t bytes);

struct Hash128 {
  uint64_t low = 0, high = 0;
};
Hash128 content_hash128(const void* data, std::size_t bytes);

// The variant content_hash64/128 run here: "avx2" or "sse2" (libxxhash). Each can be asked for
// by name (tests compare them with libxxhash); one this CPU cannot run returns false.
const char* content_hash_variant();
bool content_hash64_with(const char* variant, const void* data, std::size_t bytes, uint64_t& hash);
bool content_hash128_with(const char* variant, const void* data, std::size_t bytes, Hash128& hash);

}  // namespace sinter
