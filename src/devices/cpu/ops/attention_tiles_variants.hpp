// The attention tiles' instruction-set variants (attention_tiles.hpp's attend() picks one) and
// the scalar helpers they share with the packing in attention_tiles.cpp.
#pragma once

#include <cstdint>

#include "base/half.hpp"
#include "devices/cpu/ops/attention_tiles.hpp"

namespace sinter::cpu::attention_tiles {

// AVX-512 (with AVX512_BF16 for Kind::bf16): blocks of up to kMaxBlockRows query rows.
void attend_avx512(const Strided& queries, float scale, const PackedHead& head, const float* mask,
                   int64_t mask_row, int64_t mask_col, float* out, int64_t ldo,
                   BlockScratch& scratch);

// AVX2 + FMA, Kind::f32 only: blocks of up to kAvx2BlockRows query rows (three vectors of 8:
// with 16 registers a tile holds 4 rows of them).
constexpr int64_t kAvx2BlockRows = 24;
void attend_avx2(const Strided& queries, float scale, const PackedHead& head, const float* mask,
                 int64_t mask_row, int64_t mask_col, float* out, int64_t ldo,
                 BlockScratch& scratch);

inline float at(const Strided& m, int64_t r, int64_t c) {
  return m.data[r * m.row_stride + c * m.col_stride];
}

// Two floats as a pair of bf16 in a 32-bit word, the first in the low half.
inline uint32_t bf16_pair(float low, float high) {
  return static_cast<uint32_t>(bf16(low).bits) | static_cast<uint32_t>(bf16(high).bits) << 16;
}

}  // namespace sinter::cpu::attention_tiles
