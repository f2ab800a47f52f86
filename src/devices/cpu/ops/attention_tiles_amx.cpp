// The bf16 attention tiles' two products on AMX (attention_tiles_variants.hpp): every header
// first, then the instruction set, then the kernels. The packed layouts of the AVX512_BF16 tiles
// are already AMX's: keys [N][D/2 pairs] and values [Dv][N/2 pairs] are row-major bf16 matrices
// (AMX's A operand), the transposed queries [D/2 pairs][query rows] and probabilities [N/2
// pairs][query rows] are pairs of bf16 per column (AMX's B operand, "VNNI" layout). AMX only
// needs them padded with zeros to whole tiles (bf16_layout()).
#include <cstdint>

#include <immintrin.h>

#include "devices/cpu/ops/attention_tiles_variants.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4,amx-tile,amx-bf16"))), \
                             apply_to = function)
#else
#pragma GCC target("arch=x86-64-v4,amx-tile,amx-bf16")
#endif

namespace sinter::cpu::attention_tiles {

namespace {

// Palette 1 with all eight tiles at their largest: 16 rows of 64 bytes (16 f32, or 16 pairs of
// bf16).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

TileConfig full_tiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  return config;
}

// Tiles 0-3: C[i][j] (i, j: row and column tile of the block) as 0 + 2 i + j; 4-5: A's row
// tiles; 6-7: B's column tiles. The tile numbers must be literals (the intrinsics paste them into
// the instruction), hence one function per block shape.
template <int RowTiles, int ColTiles>
void block(const uint32_t* a, int64_t lda, int64_t steps, const uint32_t* b, int64_t ldb,
           float* out, int64_t ldo, bool accumulate) {
  const int64_t a_bytes = lda * 4, b_bytes = ldb * 4, o_bytes = ldo * 4;
  float* out1 = out + 16 * ldo;
  if (accumulate) {
    _tile_loadd(0, out, o_bytes);
    if constexpr (ColTiles == 2) _tile_loadd(1, out + 16, o_bytes);
    if constexpr (RowTiles == 2) _tile_loadd(2, out1, o_bytes);
    if constexpr (RowTiles == 2 && ColTiles == 2) _tile_loadd(3, out1 + 16, o_bytes);
  } else {
    _tile_zero(0);
    if constexpr (ColTiles == 2) _tile_zero(1);
    if constexpr (RowTiles == 2) _tile_zero(2);
    if constexpr (RowTiles == 2 && ColTiles == 2) _tile_zero(3);
  }
  for (int64_t t = 0; t < steps; t += 16) {
    _tile_loadd(4, a + t, a_bytes);
    if constexpr (RowTiles == 2) _tile_loadd(5, a + 16 * lda + t, a_bytes);
    _tile_loadd(6, b + t * ldb, b_bytes);
    if constexpr (ColTiles == 2) _tile_loadd(7, b + t * ldb + 16, b_bytes);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (ColTiles == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (RowTiles == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (RowTiles == 2 && ColTiles == 2) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, o_bytes);
  if constexpr (ColTiles == 2) _tile_stored(1, out + 16, o_bytes);
  if constexpr (RowTiles == 2) _tile_stored(2, out1, o_bytes);
  if constexpr (RowTiles == 2 && ColTiles == 2) _tile_stored(3, out1 + 16, o_bytes);
}

void configure() {
  static const TileConfig config = full_tiles();
  _tile_loadconfig(&config);
}

void release() {
  _tile_release();
}

void product_of_tiles(int64_t rows, const uint32_t* a, int64_t lda, int64_t steps,
                      const uint32_t* b, int64_t width, float* out, int64_t ldo, bool accumulate) {
  for (int64_t r = 0; r < rows; r += 32) {
    const bool two_rows = r + 32 <= rows;
    for (int64_t c = 0; c < width; c += 32) {
      const bool two_cols = c + 32 <= width;
      const uint32_t* ar = a + r * lda;
      const uint32_t* bc = b + c;
      float* o = out + r * ldo + c;
      if (two_rows && two_cols)
        block<2, 2>(ar, lda, steps, bc, width, o, ldo, accumulate);
      else if (two_rows)
        block<2, 1>(ar, lda, steps, bc, width, o, ldo, accumulate);
      else if (two_cols)
        block<1, 2>(ar, lda, steps, bc, width, o, ldo, accumulate);
      else
        block<1, 1>(ar, lda, steps, bc, width, o, ldo, accumulate);
    }
  }
}

}  // namespace

// The members were declared before this file's target: GCC compiles them without AMX, so the
// intrinsics live in the functions above.
AmxTiles::AmxTiles() {
  configure();
}

AmxTiles::~AmxTiles() {
  release();
}

void AmxTiles::product(int64_t rows, const uint32_t* a, int64_t lda, int64_t steps,
                       const uint32_t* b, int64_t width, float* out, int64_t ldo,
                       bool accumulate) const {
  product_of_tiles(rows, a, lda, steps, b, width, out, ldo, accumulate);
}

}  // namespace sinter::cpu::attention_tiles

#if defined(__clang__)
#pragma clang attribute pop
#endif
