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

// Kind::bf16's packing (attention_tiles.cpp's pack_head) with AVX512_BF16 where each key's
// depths and each value row's columns lie next to each other (col and row strides as SD's
// heads have them); false (nothing written) for other strides, which the scalar packing takes.
bool pack_head_bf16_avx512(const Strided& keys, const Strided& values, PackedHead& head);

// AVX2 + FMA, Kind::f32 only: blocks of up to kAvx2BlockRows query rows (three vectors of 8:
// with 16 registers a tile holds 4 rows of them).
constexpr int64_t kAvx2BlockRows = 24;
void attend_avx2(const Strided& queries, float scale, const PackedHead& head, const float* mask,
                 int64_t mask_row, int64_t mask_col, float* out, int64_t ldo,
                 BlockScratch& scratch);

// Packed value rows hold a head's keys (or pairs of them) and 16 words more: rows a multiple
// of 4 KiB apart (4096 keys) would share L1's sets, and a product's tile reads several of them
// at once for every chunk of keys.
inline int64_t value_row_stride(int64_t words) {
  constexpr int64_t kAlign = 16;
  return (words + kAlign - 1) / kAlign * kAlign + kAlign;
}

inline float at(const Strided& m, int64_t r, int64_t c) {
  return m.data[r * m.row_stride + c * m.col_stride];
}

// Two floats as a pair of bf16 in a 32-bit word, the first in the low half.
inline uint32_t bf16_pair(float low, float high) {
  return static_cast<uint32_t>(bf16(low).bits) | static_cast<uint32_t>(bf16(high).bits) << 16;
}

// The scalar steps both variants share, around their vector kernels. Queries scaled and
// transposed for f32: qt[d][width], zero past the block's rows.
inline void transpose_queries(const Strided& queries, float scale, int64_t width, float* qt) {
  for (int64_t d = 0; d < queries.cols; ++d)
    for (int64_t r = 0; r < width; ++r)
      qt[d * width + r] = r < queries.rows ? scale * at(queries, r, d) : 0.f;
}

// The mask's part of keys [first, first + keys) added to a chunk's scores [keys][width].
inline void add_mask(const float* mask, int64_t mask_row, int64_t mask_col, int64_t first,
                     int64_t keys, int64_t rows, int64_t width, float* scores) {
  for (int64_t j = 0; j < keys; ++j)
    for (int64_t r = 0; r < rows; ++r)
      scores[j * width + r] += mask[r * mask_row + (first + j) * mask_col];
}

// out[r][c] = result[c][r] * inverse[r]: the transposed result, divided by each row's sum.
inline void write_rows(const float* result, int64_t width, const float* inverse, int64_t rows,
                       int64_t value_cols, float* out, int64_t ldo) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < value_cols; ++c) out[r * ldo + c] = result[c * width + r] * inverse[r];
}

}  // namespace sinter::cpu::attention_tiles
