// The vector variant of content_hash.hpp, in a file compiled for its instruction set and called
// only where the CPU has it.
#pragma once

#include "base/content_hash.hpp"

namespace sinter::content_hash_detail {

uint64_t hash64_avx2(const void* data, std::size_t bytes);
Hash128 hash128_avx2(const void* data, std::size_t bytes);

}  // namespace sinter::content_hash_detail
