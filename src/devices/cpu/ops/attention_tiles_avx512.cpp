// The attention tiles (attention_tiles.hpp) for AVX-512 with AVX512_BF16: every header first,
// then the instruction set (as vector_math_avx512.cpp does), then the kernels. Only called where
// attention_tiles::available says the CPU runs them.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <immintrin.h>

#include "devices/cpu/ops/attention_tiles_variants.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4,avx512bf16"))), \
                             apply_to = function)
#else
#pragma GCC target("arch=x86-64-v4,avx512bf16")
#endif

namespace sinter::cpu::attention_tiles {

namespace {

constexpr int64_t kLanes = 16;

// GCC 12 builds the unmasked _mm512_max_ps, _mm512_cvtps_epi32 and _mm512_slli_epi32 with an
// undefined vector passed through their masks, which trips -Wmaybe-uninitialized; the
// zero-masked forms with every lane set are the same instructions.
constexpr __mmask16 kAllLanes = 0xffffu;

inline __m512 max_ps(__m512 a, __m512 b) {
  return _mm512_maskz_max_ps(kAllLanes, a, b);
}

// Both products are C[R rows][16 C columns] (+)= A[rows][T] B[T][columns]: one element of A
// broadcast against vectors of B. B's vector c of step t is at b + c * b_vector + t * b_step.
// In f32 an element is a float; in bf16 it is a pair of bf16 in a 32-bit word (low half first)
// and one step multiplies two of them (vdpbf16ps). The columns are the block's query rows,
// always whole vectors (the queries' padding lanes are zero).
struct F32 {
  using Word = float;
  using Vector = __m512;
  static Vector load(const float* p) { return _mm512_loadu_ps(p); }
  static Vector broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static __m512 madd(__m512 acc, Vector a, Vector b) { return _mm512_fmadd_ps(a, b, acc); }
};

struct Bf16 {
  using Word = uint32_t;
  using Vector = __m512i;
  static Vector load(const uint32_t* p) { return _mm512_loadu_si512(p); }
  static Vector broadcast(const uint32_t* p) { return _mm512_set1_epi32(static_cast<int>(*p)); }
  static __m512 madd(__m512 acc, Vector a, Vector b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
  }
};

// One register tile, from zero or (accumulate) onto what `out` holds. With column_max set, each
// column's largest value of the tile is also folded into column_max (the scores' maxima, taken
// while the tile is still in registers instead of in a pass over the chunk).
template <class K, int R, int C>
inline void tile(const typename K::Word* a, int64_t lda, int64_t steps, const typename K::Word* b,
                 int64_t b_step, int64_t b_vector, float* out, int64_t ldo, bool accumulate,
                 float* column_max) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      acc[r][c] = accumulate ? _mm512_loadu_ps(out + r * ldo + c * kLanes) : _mm512_setzero_ps();
  for (int64_t t = 0; t < steps; ++t) {
    typename K::Vector bv[C];
    for (int c = 0; c < C; ++c) bv[c] = K::load(b + c * b_vector + t * b_step);
    for (int r = 0; r < R; ++r) {
      const typename K::Vector av = K::broadcast(a + r * lda + t);
      for (int c = 0; c < C; ++c) acc[r][c] = K::madd(acc[r][c], av, bv[c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(out + r * ldo + c * kLanes, acc[r][c]);
  if (column_max)
    for (int c = 0; c < C; ++c) {
      __m512 top = _mm512_loadu_ps(column_max + c * kLanes);
      for (int r = 0; r < R; ++r) top = max_ps(top, acc[r][c]);
      _mm512_storeu_ps(column_max + c * kLanes, top);
    }
}

// All rows for C vectors of columns: tiles of kRows rows (24 accumulators or fewer, leaving
// registers for C vectors of B and the broadcast), then the remaining rows.
template <class K, int C>
void rows_of(int64_t rows, const typename K::Word* a, int64_t lda, int64_t steps,
             const typename K::Word* b, int64_t b_step, int64_t b_vector, float* out, int64_t ldo,
             bool accumulate, float* column_max) {
  constexpr int kRows = C == 4 ? 6 : 8;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    tile<K, kRows, C>(a + r * lda, lda, steps, b, b_step, b_vector, out + r * ldo, ldo, accumulate,
                      column_max);
  const int64_t rest = rows - r;
  if (rest == 0) return;
  a += r * lda;
  out += r * ldo;
#define SINTER_REST(N)                                                                     \
  case N:                                                                                  \
    if constexpr (N < kRows)                                                               \
      tile<K, N, C>(a, lda, steps, b, b_step, b_vector, out, ldo, accumulate, column_max); \
    break;
  switch (rest) {
    SINTER_REST(1)
    SINTER_REST(2)
    SINTER_REST(3)
    SINTER_REST(4)
    SINTER_REST(5)
    SINTER_REST(6)
    SINTER_REST(7)
    default:
      break;
  }
#undef SINTER_REST
}

// out[rows][16 vectors] (+)= A B for 1 to 4 vectors of columns; with column_max set, each
// column's maximum over the rows folded into it.
template <class K>
void product(int64_t rows, const typename K::Word* a, int64_t lda, int64_t steps,
             const typename K::Word* b, int64_t b_step, int vectors, float* out, int64_t ldo,
             bool accumulate, float* column_max = nullptr) {
  switch (vectors) {
    case 1:
      rows_of<K, 1>(rows, a, lda, steps, b, b_step, kLanes, out, ldo, accumulate, column_max);
      break;
    case 2:
      rows_of<K, 2>(rows, a, lda, steps, b, b_step, kLanes, out, ldo, accumulate, column_max);
      break;
    case 3:
      rows_of<K, 3>(rows, a, lda, steps, b, b_step, kLanes, out, ldo, accumulate, column_max);
      break;
    default:
      rows_of<K, 4>(rows, a, lda, steps, b, b_step, kLanes, out, ldo, accumulate, column_max);
      break;
  }
}

// exp(score - base) for score <= base (the base: the row's running maximum), given base
// log2(e) as base_log2e: t = score log2(e) - base log2(e) in one FMA, 2^t as 2^round(t) (an
// integer added to the exponent) times 2^f, f = t - round(t) in [-1/2, 1/2], by Taylor's
// polynomial of e^(f ln2). Degree 4 leaves 4e-5 relative, far below the 2^-9 that bf16
// probabilities keep; the f32 kind takes degree 7 (5e-9). base log2(e) is rounded once per row,
// a factor common to the row's numerators and their sum, which cancels. t is held at or above
// -126 (e^-87; -inf and masked scores give that); NaN stays NaN: max keeps it (its second
// operand) and it converts to the integer 0x80000000, which adds nothing to the exponent.
template <int Degree>
inline __m512 exp_less(__m512 score, __m512 base_log2e) {
  const __m512 t = max_ps(_mm512_set1_ps(-126.f),
                          _mm512_fmsub_ps(score, _mm512_set1_ps(1.44269504088896341f), base_log2e));
  // round(t) by adding and removing 1.5 * 2^23: two adds where roundscale is slower on Zen.
  const __m512 shifter = _mm512_set1_ps(12582912.f);
  const __m512 n = _mm512_sub_ps(_mm512_add_ps(t, shifter), shifter);
  const __m512 f = _mm512_sub_ps(t, n);
  constexpr float kLn2 = 0.693147180559945309f;
  __m512 p;
  if constexpr (Degree == 7) {
    p = _mm512_set1_ps(kLn2 * kLn2 * kLn2 * kLn2 * kLn2 * kLn2 * kLn2 / 5040.f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kLn2 * kLn2 * kLn2 * kLn2 * kLn2 * kLn2 / 720.f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kLn2 * kLn2 * kLn2 * kLn2 * kLn2 / 120.f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kLn2 * kLn2 * kLn2 * kLn2 / 24.f));
  } else {
    static_assert(Degree == 4);
    p = _mm512_set1_ps(kLn2 * kLn2 * kLn2 * kLn2 / 24.f);
  }
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kLn2 * kLn2 * kLn2 / 6.f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kLn2 * kLn2 / 2.f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kLn2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  const __m512i exponent =
      _mm512_maskz_slli_epi32(kAllLanes, _mm512_maskz_cvtps_epi32(kAllLanes, n), 23);
  return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), exponent));
}

// Two vectors of f32 as one vector of bf16 pairs, lane l = (low[l], high[l]), rounded to
// nearest even: cvtne2ps puts the 16 lows before the 16 highs, the permutation interleaves them.
inline __m512i interleave_bf16(__m512 low, __m512 high) {
  const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(high, low));
}

// `count` contiguous floats times `scale` as bf16 pair words (count / 2, rounded up; an odd
// last float paired with zero), rounded to nearest even as bf16_pair rounds them.
inline void row_to_pairs(const float* row, int64_t count, float scale, uint32_t* words) {
  const __m512 s = _mm512_set1_ps(scale);
  int64_t d = 0;
  for (; d + 2 * kLanes <= count; d += 2 * kLanes) {
    const __m512 first = _mm512_mul_ps(_mm512_loadu_ps(row + d), s);
    const __m512 second = _mm512_mul_ps(_mm512_loadu_ps(row + d + kLanes), s);
    _mm512_storeu_si512(words + d / 2, (__m512i)_mm512_cvtne2ps_pbh(second, first));
  }
  for (; d < count; d += kLanes) {
    const int64_t n = std::min<int64_t>(kLanes, count - d);
    const __m512 x =
        _mm512_mul_ps(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), row + d), s);
    const __m256i halves = (__m256i)_mm512_cvtneps_pbh(x);
    const int64_t pairs = (n + 1) / 2;
    _mm256_mask_storeu_epi32(words + d / 2, static_cast<__mmask8>((1u << pairs) - 1), halves);
  }
}

// Keys per chunk: a chunk's scores (128 x 64 floats: 32 KiB) stay in L1 from their product
// through the softmax to the product with the values. (64 keys for heads of 80 and 160 floats,
// whose keys then fit in L1 beside them, measured no faster.)
constexpr int64_t kChunkKeys = 128;

// The online softmax of one block, vector by vector of query rows: the running maximum and the
// running sum of exp(score - maximum), both per lane.
struct RunningSoftmax {
  __m512 max[kMaxBlockRows / kLanes];
  __m512 sum[kMaxBlockRows / kLanes];
};

// One chunk's scores s[keys][width] become numerators (in place for f32, as bf16 pairs of keys
// [keys/2][width] in `pairs` for bf16) against the updated maximum; the sums and what the
// result [value_cols][width] holds from earlier chunks (when `rescale`) are scaled by
// exp(old maximum - new maximum) first, in the lanes whose maximum grew. chunk_max holds the
// chunk's column maxima when given (taken by the scores' product); else they are found here.
// A lane whose maximum is still -inf (every score so far masked) takes its exponents against
// 0, so that a later chunk's finite scores count in full.
template <class K>
void softmax_chunk(float* s, int64_t keys, int64_t width, int vectors, const float* chunk_max,
                   RunningSoftmax& run, float* result, int64_t value_cols, bool rescale,
                   uint32_t* pairs) {
  constexpr int kDegree = std::is_same_v<K, F32> ? 7 : 4;
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  for (int v = 0; v < vectors; ++v) {
    float* col = s + v * kLanes;
    __m512 top;
    if (chunk_max) {
      top = _mm512_loadu_ps(chunk_max + v * kLanes);
    } else {
      __m512 top0 = lowest, top1 = lowest;  // two chains: max's latency, not its rate, bounds one
      int64_t n = 0;
      for (; n + 2 <= keys; n += 2) {
        top0 = max_ps(top0, _mm512_loadu_ps(col + n * width));
        top1 = max_ps(top1, _mm512_loadu_ps(col + (n + 1) * width));
      }
      if (n < keys) top0 = max_ps(top0, _mm512_loadu_ps(col + n * width));
      top = max_ps(top0, top1);
    }
    const __m512 grown = max_ps(run.max[v], top);
    const __m512 base = _mm512_mask_mov_ps(grown, _mm512_cmp_ps_mask(grown, lowest, _CMP_EQ_OQ),
                                           _mm512_setzero_ps());
    const __m512 base_log2e = _mm512_mul_ps(base, log2e);
    // Lanes whose maximum grew (NaN included: unordered); in the others the factor is 1.
    if (rescale && _mm512_cmp_ps_mask(grown, run.max[v], _CMP_NEQ_UQ) != 0) {
      const __m512 shrink = exp_less<kDegree>(run.max[v], base_log2e);
      run.sum[v] = _mm512_mul_ps(run.sum[v], shrink);
      for (int64_t c = 0; c < value_cols; ++c) {
        float* o = result + c * width + v * kLanes;
        _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_loadu_ps(o), shrink));
      }
    }
    run.max[v] = grown;
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    int64_t n = 0;
    if constexpr (std::is_same_v<K, F32>) {
      for (; n + 2 <= keys; n += 2) {
        const __m512 e0 = exp_less<kDegree>(_mm512_loadu_ps(col + n * width), base_log2e);
        const __m512 e1 = exp_less<kDegree>(_mm512_loadu_ps(col + (n + 1) * width), base_log2e);
        _mm512_storeu_ps(col + n * width, e0);
        _mm512_storeu_ps(col + (n + 1) * width, e1);
        sum0 = _mm512_add_ps(sum0, e0);
        sum1 = _mm512_add_ps(sum1, e1);
      }
      if (n < keys) {
        const __m512 e0 = exp_less<kDegree>(_mm512_loadu_ps(col + n * width), base_log2e);
        _mm512_storeu_ps(col + n * width, e0);
        sum0 = _mm512_add_ps(sum0, e0);
      }
    } else {
      // The sums are taken before rounding; an odd last key is paired with a zero.
      for (; n < keys; n += 2) {
        const __m512 e0 = exp_less<kDegree>(_mm512_loadu_ps(col + n * width), base_log2e);
        const __m512 e1 =
            n + 1 < keys ? exp_less<kDegree>(_mm512_loadu_ps(col + (n + 1) * width), base_log2e)
                         : _mm512_setzero_ps();
        sum0 = _mm512_add_ps(sum0, e0);
        sum1 = _mm512_add_ps(sum1, e1);
        _mm512_storeu_si512(pairs + (n / 2) * width + v * kLanes, interleave_bf16(e0, e1));
      }
    }
    run.sum[v] = _mm512_add_ps(run.sum[v], _mm512_add_ps(sum0, sum1));
  }
}

template <class K>
void attend_as(const Strided& queries, float scale, const PackedHead& head, const float* mask,
               int64_t mask_row, int64_t mask_col, float* out, int64_t ldo, BlockScratch& scratch) {
  constexpr bool kF32 = std::is_same_v<K, F32>;
  using Word = typename K::Word;
  const int64_t rows = queries.rows, depth = head.depth, n = head.keys, dv = head.value_cols;
  const int vectors = static_cast<int>((rows + kLanes - 1) / kLanes);
  const int64_t width = vectors * kLanes;
  const int64_t depth_steps = kF32 ? depth : (depth + 1) / 2;
  const int64_t key_stride = head.key_stride, value_stride = head.value_stride;
  // AMX multiplies whole tiles: the queries' depth pairs up to the keys' padded stride, the value
  // columns up to whole tiles of rows.
  const bool amx = !kF32 && head.amx;
  const int64_t query_steps = amx ? key_stride : depth_steps;
  const int64_t result_rows = amx ? whole_tiles(dv) : dv;
  // The queries, scaled and transposed: [depth steps][width], zero past the block's rows (and
  // past the depths, for AMX).
  Word* qt = reinterpret_cast<Word*>(
      scratch.queries.reserve(static_cast<std::size_t>(query_steps * width)));
  std::fill(qt + depth_steps * width, qt + query_steps * width, Word{0});
  if constexpr (kF32) {
    transpose_queries(queries, scale, width, qt);
  } else if (queries.col_stride == 1) {  // a row's depths side by side: converted as vectors
    uint32_t* row =
        reinterpret_cast<uint32_t*>(scratch.scores.reserve(static_cast<std::size_t>(depth_steps)));
    for (int64_t r = 0; r < width; ++r) {
      if (r < rows) row_to_pairs(queries.data + r * queries.row_stride, depth, scale, row);
      for (int64_t t = 0; t < depth_steps; ++t) qt[t * width + r] = r < rows ? row[t] : 0u;
    }
  } else {  // pairs of depths
    for (int64_t t = 0; t < depth_steps; ++t)
      for (int64_t r = 0; r < width; ++r) {
        const int64_t d = 2 * t;
        qt[t * width + r] = r < rows
                                ? bf16_pair(scale * at(queries, r, d),
                                            d + 1 < depth ? scale * at(queries, r, d + 1) : 0.f)
                                : 0u;
      }
  }
  float* scores = reinterpret_cast<float*>(
      scratch.scores.reserve(static_cast<std::size_t>(kChunkKeys * width)));
  uint32_t* pairs =
      kF32 ? nullptr
           : scratch.probabilities.reserve(static_cast<std::size_t>(kChunkKeys / 2 * width));
  float* result = reinterpret_cast<float*>(
      scratch.result.reserve(static_cast<std::size_t>(result_rows * width)));
  alignas(64) float chunk_max[kMaxBlockRows];
  RunningSoftmax run;
  for (int v = 0; v < vectors; ++v) {
    run.max[v] = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    run.sum[v] = _mm512_setzero_ps();
  }
  const auto* keys = static_cast<const Word*>(head.packed_keys);
  const auto* values = static_cast<const Word*>(head.packed_values);
  if (amx) {
    if constexpr (!kF32) {  // amx is never set for f32, whose words AMX cannot take
      // The scores' maxima are taken by the softmax, from the tiles' stores still in L1.
      const AmxTiles tiles;
      for (int64_t n0 = 0; n0 < n; n0 += kChunkKeys) {
        const int64_t chunk = std::min(kChunkKeys, n - n0);
        tiles.product(whole_tiles(chunk), keys + n0 * key_stride, key_stride, query_steps, qt,
                      width, scores, width, false);
        if (mask) add_mask(mask, mask_row, mask_col, n0, chunk, rows, width, scores);
        softmax_chunk<K>(scores, chunk, width, vectors, nullptr, run, result, dv, n0 > 0, pairs);
        const int64_t chunk_pairs = (chunk + 1) / 2, steps = whole_tiles(chunk_pairs);
        std::fill(pairs + chunk_pairs * width, pairs + steps * width, 0u);
        tiles.product(result_rows, values + n0 / 2, value_stride, steps, pairs, width, result,
                      width, n0 > 0);
      }
    }
  } else {
    for (int64_t n0 = 0; n0 < n; n0 += kChunkKeys) {
      const int64_t chunk = std::min(kChunkKeys, n - n0);
      // Without a mask the scores' product takes their maxima; a mask changes them afterwards.
      if (!mask) std::fill(chunk_max, chunk_max + width, -std::numeric_limits<float>::infinity());
      product<K>(chunk, keys + n0 * key_stride, key_stride, depth_steps, qt, width, vectors, scores,
                 width, false, mask ? nullptr : chunk_max);
      if (mask) add_mask(mask, mask_row, mask_col, n0, chunk, rows, width, scores);
      softmax_chunk<K>(scores, chunk, width, vectors, mask ? nullptr : chunk_max, run, result, dv,
                       n0 > 0, pairs);
      if constexpr (kF32) {
        product<F32>(dv, values + n0, value_stride, chunk, scores, width, vectors, result, width,
                     n0 > 0);
      } else {
        product<Bf16>(dv, values + n0 / 2, value_stride, (chunk + 1) / 2, pairs, width, vectors,
                      result, width, n0 > 0);
      }
    }
  }
  // The softmax's division, on the result's Dv values per row instead of N probabilities. A row
  // whose every score is -inf is NaN, as softmax's definition makes it (0/0).
  alignas(64) float inverse[kMaxBlockRows];
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int v = 0; v < vectors; ++v) {
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.f), run.sum[v]);
    _mm512_store_ps(inverse + v * kLanes,
                    _mm512_mask_mov_ps(inv, _mm512_cmp_ps_mask(run.max[v], lowest, _CMP_EQ_OQ),
                                       _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN())));
  }
  write_rows(result, width, inverse, rows, dv, out, ldo);
}

}  // namespace

bool pack_head_bf16_avx512(const Strided& keys, const Strided& values, uint32_t* kw,
                           int64_t key_stride, uint32_t* vw, int64_t value_stride) {
  if (keys.row_stride != 1 || values.col_stride != 1) return false;
  const int64_t depth = keys.rows, n = keys.cols, dv = values.cols;
  const int64_t key_pairs = (n + 1) / 2;
  for (int64_t j = 0; j < n; ++j)
    row_to_pairs(keys.data + j * keys.col_stride, depth, 1.f, kw + j * key_stride);
  // Rows 2t and 2t + 1 interleaved into words [c], kTransposed pairs at a time, then written
  // transposed: vw[c][t].
  constexpr int64_t kTransposed = 16;
  const int64_t padded = (dv + kLanes - 1) / kLanes * kLanes;
  std::vector<uint32_t> block(static_cast<std::size_t>(kTransposed * padded));
  for (int64_t t0 = 0; t0 < key_pairs; t0 += kTransposed) {
    const int64_t count = std::min(kTransposed, key_pairs - t0);
    for (int64_t t = 0; t < count; ++t) {
      const int64_t j = 2 * (t0 + t);
      const float* low = values.data + j * values.row_stride;
      const float* high = j + 1 < n ? low + values.row_stride : nullptr;
      for (int64_t c = 0; c < dv; c += kLanes) {
        const auto lanes = static_cast<__mmask16>((1u << std::min<int64_t>(kLanes, dv - c)) - 1);
        const __m512 a = _mm512_maskz_loadu_ps(lanes, low + c);
        const __m512 b = high ? _mm512_maskz_loadu_ps(lanes, high + c) : _mm512_setzero_ps();
        _mm512_storeu_si512(block.data() + t * padded + c, interleave_bf16(a, b));
      }
    }
    for (int64_t c = 0; c < dv; ++c)
      for (int64_t t = 0; t < count; ++t) vw[c * value_stride + t0 + t] = block[t * padded + c];
  }
  return true;
}

void attend_avx512(const Strided& queries, float scale, const PackedHead& head, const float* mask,
                   int64_t mask_row, int64_t mask_col, float* out, int64_t ldo,
                   BlockScratch& scratch) {
  if (head.kind == Kind::f32)
    attend_as<F32>(queries, scale, head, mask, mask_row, mask_col, out, ldo, scratch);
  else
    attend_as<Bf16>(queries, scale, head, mask, mask_row, mask_col, out, ldo, scratch);
}

}  // namespace sinter::cpu::attention_tiles

#if defined(__clang__)
#pragma clang attribute pop
#endif
