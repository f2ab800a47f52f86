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

// Kind::bf16's packing (attention_tiles.cpp's pack_head, which sizes the buffers) with
// AVX512_BF16 where each key's depths and each value row's columns lie next to each other (col
// and row strides as SD's heads have them); false (nothing written) for other strides, which the
// scalar packing takes.
bool pack_head_bf16_avx512(const Strided& keys, const Strided& values, uint32_t* key_words,
                           int64_t key_stride, uint32_t* value_words, int64_t value_stride);

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

// Whether the bf16 tiles' two products run on AMX (attention_tiles_amx.cpp): where oneDNN runs
// AMX (the CPU has it, the OS grants it, ONEDNN_MAX_CPU_ISA allows it) and the OS grants it to
// this process. Only asked where the AVX-512 tiles run.
bool amx_tiles();

// Whole tiles of AMX: 16 rows, or 16 words (pairs of bf16) of a row.
inline int64_t whole_tiles(int64_t n) {
  return (n + 15) / 16 * 16;
}

// This thread's tile registers, configured for product() while the object lives and released
// after (oneDNN's AMX kernels configure their own on entry).
class AmxTiles {
 public:
  AmxTiles();
  ~AmxTiles();
  AmxTiles(const AmxTiles&) = delete;
  AmxTiles& operator=(const AmxTiles&) = delete;

  // out[rows][width] (+)= A[rows][steps words] B[steps][width words]: bf16 pairs, f32 sums.
  // rows, steps and width are whole tiles (multiples of 16), and what A and B hold past their
  // real rows and columns is zero (bf16_layout's padding).
  void product(int64_t rows, const uint32_t* a, int64_t lda, int64_t steps, const uint32_t* b,
               int64_t width, float* out, int64_t ldo, bool accumulate) const;
};

// A bf16 head's packed sizes, in 32-bit words (pairs of bf16): key rows of key_stride words,
// value rows value_stride apart. With AMX, key rows, key words and value rows are whole tiles,
// and pack_head zeroes the buffers first, so that every tile read past the head's keys, depths
// and value columns multiplies zeros.
struct Bf16Layout {
  int64_t key_rows, key_stride, value_rows, value_stride;
};

inline Bf16Layout bf16_layout(int64_t depth, int64_t keys, int64_t value_cols, bool amx) {
  const int64_t depth_pairs = (depth + 1) / 2, key_pairs = (keys + 1) / 2;
  // value_row_stride leaves 16 words past the keys' pairs: whole tiles of them fit.
  if (amx)
    return {whole_tiles(keys), whole_tiles(depth_pairs), whole_tiles(value_cols),
            value_row_stride(key_pairs)};
  return {keys, depth_pairs, value_cols, value_row_stride(key_pairs)};
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
