// The f32 attention tiles (attention_tiles.hpp) for AVX2 + FMA (x86-64-v3), the CPUs without
// AVX-512 (Zen 2 and 3, Intel client cores): the same transposed blocks and online softmax as
// attention_tiles_avx512.cpp with vectors of 8 query rows and 16 registers, so blocks of up to
// 24 rows (3 vectors) and tiles of 4 keys (or value columns) by 3 vectors. Every header first,
// then the instruction set, then the kernels. Only called where attention_tiles::available says
// the CPU runs them.
#include <algorithm>
#include <cstdint>
#include <limits>

#include <immintrin.h>

#include "devices/cpu/ops/attention_tiles_variants.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#else
#pragma GCC target("arch=x86-64-v3")
#endif

namespace sinter::cpu::attention_tiles {

namespace {

constexpr int64_t kLanes = 8;
constexpr int kMaxVectors = static_cast<int>(kAvx2BlockRows / kLanes);

// One register tile C[R rows][8 C columns] (+)= A[rows][steps] B[steps][columns]: one element
// of A broadcast against vectors of B (B's vector c of step t at b + c * 8 + t * b_step). With
// column_max set, each column's largest value of the tile is folded into it.
template <int R, int C>
inline void tile(const float* a, int64_t lda, int64_t steps, const float* b, int64_t b_step,
                 float* out, int64_t ldo, bool accumulate, float* column_max) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      acc[r][c] = accumulate ? _mm256_loadu_ps(out + r * ldo + c * kLanes) : _mm256_setzero_ps();
  for (int64_t t = 0; t < steps; ++t) {
    __m256 bv[C];
    for (int c = 0; c < C; ++c) bv[c] = _mm256_loadu_ps(b + c * kLanes + t * b_step);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + t);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(av, bv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(out + r * ldo + c * kLanes, acc[r][c]);
  if (column_max)
    for (int c = 0; c < C; ++c) {
      __m256 top = _mm256_loadu_ps(column_max + c * kLanes);
      for (int r = 0; r < R; ++r) top = _mm256_max_ps(top, acc[r][c]);
      _mm256_storeu_ps(column_max + c * kLanes, top);
    }
}

// All rows for C vectors of columns: tiles of kRows rows (12 accumulators or fewer, leaving
// registers for C vectors of B and the broadcast), then the remaining rows one at a time.
template <int C>
void rows_of(int64_t rows, const float* a, int64_t lda, int64_t steps, const float* b,
             int64_t b_step, float* out, int64_t ldo, bool accumulate, float* column_max) {
  constexpr int kRows = C == 3 ? 4 : C == 2 ? 6 : 8;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    tile<kRows, C>(a + r * lda, lda, steps, b, b_step, out + r * ldo, ldo, accumulate, column_max);
  for (; r < rows; ++r)
    tile<1, C>(a + r * lda, lda, steps, b, b_step, out + r * ldo, ldo, accumulate, column_max);
}

void product(int64_t rows, const float* a, int64_t lda, int64_t steps, const float* b,
             int64_t b_step, int vectors, float* out, int64_t ldo, bool accumulate,
             float* column_max = nullptr) {
  switch (vectors) {
    case 1:
      rows_of<1>(rows, a, lda, steps, b, b_step, out, ldo, accumulate, column_max);
      break;
    case 2:
      rows_of<2>(rows, a, lda, steps, b, b_step, out, ldo, accumulate, column_max);
      break;
    default:
      rows_of<3>(rows, a, lda, steps, b, b_step, out, ldo, accumulate, column_max);
      break;
  }
}

// exp(score - base) as attention_tiles_avx512.cpp's exp_less<7> computes it: t = score log2(e)
// - base log2(e) in one FMA, held at or above -126, 2^round(t) added to the exponent, 2^f by
// the degree-7 Taylor polynomial of e^(f ln2) (5e-9 relative). NaN stays NaN (max keeps its
// second operand; it converts to 0x80000000, which adds nothing).
inline __m256 exp_less(__m256 score, __m256 base_log2e) {
  const __m256 t =
      _mm256_max_ps(_mm256_set1_ps(-126.f),
                    _mm256_fmsub_ps(score, _mm256_set1_ps(1.44269504088896341f), base_log2e));
  const __m256 shifter = _mm256_set1_ps(12582912.f);  // 1.5 * 2^23: round to an integer
  const __m256 n = _mm256_sub_ps(_mm256_add_ps(t, shifter), shifter);
  const __m256 f = _mm256_sub_ps(t, n);
  constexpr float kLn2 = 0.693147180559945309f;
  constexpr float kC2 = kLn2 * kLn2 / 2.f, kC3 = kC2 * kLn2 / 3.f, kC4 = kC3 * kLn2 / 4.f;
  constexpr float kC5 = kC4 * kLn2 / 5.f, kC6 = kC5 * kLn2 / 6.f, kC7 = kC6 * kLn2 / 7.f;
  __m256 p = _mm256_set1_ps(kC7);
  for (float c : {kC6, kC5, kC4, kC3, kC2, kLn2, 1.f}) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(c));
  const __m256i exponent = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), exponent));
}

constexpr int64_t kChunkKeys = 128;  // a chunk's scores (128 x 24 floats: 12 KiB) stay in L1

struct RunningSoftmax {
  __m256 max[kMaxVectors];
  __m256 sum[kMaxVectors];
};

// attention_tiles_avx512.cpp's softmax_chunk for f32: the chunk's scores s[keys][width] become
// numerators in place against the updated maximum, with the sums and the result so far rescaled
// in the lanes whose maximum grew; chunk_max, where given, holds the chunk's column maxima.
void softmax_chunk(float* s, int64_t keys, int64_t width, int vectors, const float* chunk_max,
                   RunningSoftmax& run, float* result, int64_t value_cols, bool rescale) {
  const __m256 lowest = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
  for (int v = 0; v < vectors; ++v) {
    float* col = s + v * kLanes;
    __m256 top;
    if (chunk_max) {
      top = _mm256_loadu_ps(chunk_max + v * kLanes);
    } else {
      top = lowest;
      for (int64_t n = 0; n < keys; ++n) top = _mm256_max_ps(top, _mm256_loadu_ps(col + n * width));
    }
    const __m256 grown = _mm256_max_ps(run.max[v], top);
    // Lanes still at -inf (every score so far masked) take their exponents against 0.
    const __m256 base =
        _mm256_blendv_ps(grown, _mm256_setzero_ps(), _mm256_cmp_ps(grown, lowest, _CMP_EQ_OQ));
    const __m256 base_log2e = _mm256_mul_ps(base, log2e);
    if (rescale && _mm256_movemask_ps(_mm256_cmp_ps(grown, run.max[v], _CMP_NEQ_UQ)) != 0) {
      const __m256 shrink = exp_less(run.max[v], base_log2e);
      run.sum[v] = _mm256_mul_ps(run.sum[v], shrink);
      for (int64_t c = 0; c < value_cols; ++c) {
        float* o = result + c * width + v * kLanes;
        _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_loadu_ps(o), shrink));
      }
    }
    run.max[v] = grown;
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    int64_t n = 0;
    for (; n + 2 <= keys; n += 2) {
      const __m256 e0 = exp_less(_mm256_loadu_ps(col + n * width), base_log2e);
      const __m256 e1 = exp_less(_mm256_loadu_ps(col + (n + 1) * width), base_log2e);
      _mm256_storeu_ps(col + n * width, e0);
      _mm256_storeu_ps(col + (n + 1) * width, e1);
      sum0 = _mm256_add_ps(sum0, e0);
      sum1 = _mm256_add_ps(sum1, e1);
    }
    if (n < keys) {
      const __m256 e0 = exp_less(_mm256_loadu_ps(col + n * width), base_log2e);
      _mm256_storeu_ps(col + n * width, e0);
      sum0 = _mm256_add_ps(sum0, e0);
    }
    run.sum[v] = _mm256_add_ps(run.sum[v], _mm256_add_ps(sum0, sum1));
  }
}

}  // namespace

void attend_avx2(const Strided& queries, float scale, const PackedHead& head, const float* mask,
                 int64_t mask_row, int64_t mask_col, float* out, int64_t ldo,
                 BlockScratch& scratch) {
  const int64_t rows = queries.rows, depth = head.depth, n = head.keys, dv = head.value_cols;
  const int vectors = static_cast<int>((rows + kLanes - 1) / kLanes);
  const int64_t width = vectors * kLanes;
  auto* qt =
      reinterpret_cast<float*>(scratch.queries.reserve(static_cast<std::size_t>(depth * width)));
  transpose_queries(queries, scale, width, qt);
  auto* scores = reinterpret_cast<float*>(
      scratch.scores.reserve(static_cast<std::size_t>(kChunkKeys * width)));
  auto* result =
      reinterpret_cast<float*>(scratch.result.reserve(static_cast<std::size_t>(dv * width)));
  alignas(32) float chunk_max[kAvx2BlockRows];
  RunningSoftmax run;
  for (int v = 0; v < vectors; ++v) {
    run.max[v] = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    run.sum[v] = _mm256_setzero_ps();
  }
  const auto* keys = static_cast<const float*>(head.packed_keys);
  const auto* values = static_cast<const float*>(head.packed_values);
  for (int64_t n0 = 0; n0 < n; n0 += kChunkKeys) {
    const int64_t chunk = std::min(kChunkKeys, n - n0);
    // Without a mask the scores' product takes their maxima; a mask changes them afterwards.
    if (!mask) std::fill(chunk_max, chunk_max + width, -std::numeric_limits<float>::infinity());
    product(chunk, keys + n0 * depth, depth, depth, qt, width, vectors, scores, width, false,
            mask ? nullptr : chunk_max);
    if (mask) add_mask(mask, mask_row, mask_col, n0, chunk, rows, width, scores);
    softmax_chunk(scores, chunk, width, vectors, mask ? nullptr : chunk_max, run, result, dv,
                  n0 > 0);
    product(dv, values + n0, head.value_stride, chunk, scores, width, vectors, result, width,
            n0 > 0);
  }
  // The softmax's division on the result's Dv values per row; a row whose every score is -inf
  // is NaN, as the definition's 0/0.
  alignas(32) float inverse[kAvx2BlockRows];
  const __m256 lowest = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int v = 0; v < vectors; ++v) {
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.f), run.sum[v]);
    _mm256_store_ps(inverse + v * kLanes,
                    _mm256_blendv_ps(inv, _mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()),
                                     _mm256_cmp_ps(run.max[v], lowest, _CMP_EQ_OQ)));
  }
  write_rows(result, width, inverse, rows, dv, out, ldo);
}

}  // namespace sinter::cpu::attention_tiles

#if defined(__clang__)
#pragma clang attribute pop
#endif
