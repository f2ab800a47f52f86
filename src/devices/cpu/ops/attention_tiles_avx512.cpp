// The attention tiles (attention_tiles.hpp) for AVX-512 with AVX512_BF16: every header first,
// then the instruction set (as vector_math_avx512.cpp does), then the kernels. Only called where
// attention_tiles::available says the CPU runs them.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include <immintrin.h>

#include "base/half.hpp"
#include "devices/cpu/ops/attention_tiles.hpp"
#include "devices/cpu/ops/vector_math.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4,avx512bf16"))), \
                             apply_to = function)
#else
#pragma GCC target("arch=x86-64-v4,avx512bf16")
#endif

namespace sinter::cpu::attention_tiles {

namespace {

constexpr int64_t kLanes = 16;

int64_t round_up(int64_t v, int64_t to) {
  return (v + to - 1) / to * to;
}

// Both products are C[R rows][16 C columns] += A[rows][T] B[T][columns]: one element of A
// broadcast against vectors of B. B's vector c of step t is at b + c * b_vector + t * b_step.
// In f32 an element is a float; in bf16 it is a pair of bf16 in a 32-bit word (low half first)
// and one step multiplies two of them (vdpbf16ps).
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

// One register tile, from zero or (accumulate) onto what `out` holds. Each output row r is
// multiplied by row_scale[r] when row_scale is set; the last vector of a row loads and stores
// only the lanes of last_mask.
template <class K, int R, int C>
inline void tile(const typename K::Word* a, int64_t lda, int64_t steps, const typename K::Word* b,
                 int64_t b_step, int64_t b_vector, float* out, int64_t ldo, const float* row_scale,
                 __mmask16 last_mask, bool accumulate) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      float* o = out + r * ldo + c * kLanes;
      acc[r][c] = !accumulate ? _mm512_setzero_ps()
                  : c + 1 < C ? _mm512_loadu_ps(o)
                              : _mm512_maskz_loadu_ps(last_mask, o);
    }
  for (int64_t t = 0; t < steps; ++t) {
    typename K::Vector bv[C];
    for (int c = 0; c < C; ++c) bv[c] = K::load(b + c * b_vector + t * b_step);
    for (int r = 0; r < R; ++r) {
      const typename K::Vector av = K::broadcast(a + r * lda + t);
      for (int c = 0; c < C; ++c) acc[r][c] = K::madd(acc[r][c], av, bv[c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 s = _mm512_set1_ps(row_scale ? row_scale[r] : 1.f);
    for (int c = 0; c < C; ++c) {
      const __m512 v = _mm512_mul_ps(acc[r][c], s);
      if (c + 1 < C) {
        _mm512_storeu_ps(out + r * ldo + c * kLanes, v);
      } else {
        _mm512_mask_storeu_ps(out + r * ldo + c * kLanes, last_mask, v);
      }
    }
  }
}

// All rows for C vectors of columns: tiles of kRows rows (24 accumulators or fewer, leaving
// registers for C vectors of B and the broadcast), then the remaining rows.
template <class K, int C>
void rows_of(int64_t rows, const typename K::Word* a, int64_t lda, int64_t steps,
             const typename K::Word* b, int64_t b_step, int64_t b_vector, float* out, int64_t ldo,
             const float* row_scale, __mmask16 last_mask, bool accumulate) {
  constexpr int kRows = C == 4 ? 6 : 8;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    tile<K, kRows, C>(a + r * lda, lda, steps, b, b_step, b_vector, out + r * ldo, ldo,
                      row_scale ? row_scale + r : nullptr, last_mask, accumulate);
  const int64_t rest = rows - r;
  if (rest == 0) return;
  a += r * lda;
  out += r * ldo;
  if (row_scale) row_scale += r;
#define SINTER_REST(N)                                                                  \
  case N:                                                                               \
    if constexpr (N < kRows)                                                            \
      tile<K, N, C>(a, lda, steps, b, b_step, b_vector, out, ldo, row_scale, last_mask, \
                    accumulate);                                                        \
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

// One chunk of steps of product() for all rows and `columns` columns (accumulate: onto what
// out holds): groups of up to four vectors of 16 columns, as even as they go (five: 3 + 2).
template <class K>
void product_chunk(int64_t rows, const typename K::Word* a, int64_t lda, int64_t steps,
                   const typename K::Word* b, int64_t b_step, int64_t b_vector, int64_t columns,
                   float* out, int64_t ldo, const float* row_scale, bool accumulate) {
  const int64_t vectors = (columns + kLanes - 1) / kLanes;
  const int64_t groups = (vectors + 3) / 4;
  int64_t v = 0;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t count = (vectors - v) / (groups - g);
    const int64_t last_columns = std::min(columns - (v + count - 1) * kLanes, kLanes);
    const __mmask16 mask = static_cast<__mmask16>((1u << last_columns) - 1u);
    const auto* bg = b + v * b_vector;
    float* og = out + v * kLanes;
    switch (count) {
      case 1:
        rows_of<K, 1>(rows, a, lda, steps, bg, b_step, b_vector, og, ldo, row_scale, mask,
                      accumulate);
        break;
      case 2:
        rows_of<K, 2>(rows, a, lda, steps, bg, b_step, b_vector, og, ldo, row_scale, mask,
                      accumulate);
        break;
      case 3:
        rows_of<K, 3>(rows, a, lda, steps, bg, b_step, b_vector, og, ldo, row_scale, mask,
                      accumulate);
        break;
      default:
        rows_of<K, 4>(rows, a, lda, steps, bg, b_step, b_vector, og, ldo, row_scale, mask,
                      accumulate);
        break;
    }
    v += count;
  }
}

// out[rows][columns] = A B, times row_scale (where set) per row. Long products run in chunks of
// kChunkSteps steps, each over all rows: a chunk of B (256 value rows of 48 floats: 48 KiB)
// stays in L2 for every row tile, where all of it (4096 rows: 768 KiB) did not fit beside the
// block's scores and came from L3 for each tile.
template <class K>
void product(int64_t rows, const typename K::Word* a, int64_t lda, int64_t steps,
             const typename K::Word* b, int64_t b_step, int64_t b_vector, int64_t columns,
             float* out, int64_t ldo, const float* row_scale) {
  constexpr int64_t kChunkSteps = 256;
  for (int64_t t0 = 0; t0 < steps; t0 += kChunkSteps) {
    const int64_t chunk = std::min(kChunkSteps, steps - t0);
    const bool last = t0 + chunk == steps;
    product_chunk<K>(rows, a + t0, lda, chunk, b + t0 * b_step, b_step, b_vector, columns, out, ldo,
                     last ? row_scale : nullptr, t0 > 0);
  }
}

uint32_t bf16_pair(float low, float high) {
  return static_cast<uint32_t>(bf16(low).bits) | static_cast<uint32_t>(bf16(high).bits) << 16;
}

// GCC 12 builds the unmasked _mm512_max_ps, _mm512_roundscale_ps and _mm512_scalef_ps with an
// undefined vector passed through their masks, which trips -Wmaybe-uninitialized; the
// zero-masked forms with every lane set are the same instructions.
constexpr __mmask16 kAllLanes = 0xffffu;

inline __m512 max_ps(__m512 a, __m512 b) {
  return _mm512_maskz_max_ps(kAllLanes, a, b);
}

// exp(x) for x <= 0 (a score less its row's maximum) to about 3e-6 relative, e^-87 below -87,
// NaN kept: the bf16 path rounds these probabilities to 2^-9 before it uses them, so the
// degree-7 series of the f32 softmax (vec::softmax_numerators) is more than they keep.
inline __m512 exp_nonpositive(__m512 x) {
  x = max_ps(_mm512_set1_ps(-87.f), x);  // NaN in x: x (max returns its second operand)
  const __m512 n =
      _mm512_maskz_roundscale_ps(kAllLanes, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln2 split into a part with few mantissa bits (n * hi is exact) and the rest.
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
  __m512 p = _mm512_set1_ps(1.f / 120.f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_maskz_scalef_ps(kAllLanes, p, n);  // p 2^n
}

// A row's softmax numerators exp(score - max) as bf16 pairs (round to nearest even; the odd
// tail paired with zero), in one pass that never stores them as f32; returns their sum, taken
// before rounding.
float numerators_to_pairs(const float* row, int64_t n, uint32_t* pairs) {
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 top = lowest;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) top = max_ps(top, _mm512_loadu_ps(row + i));
  if (i < n) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1u);
    top = max_ps(top, _mm512_mask_loadu_ps(lowest, tail, row + i));
  }
  // Lane by lane: _mm512_reduce_max_ps trips GCC 12's maybe-uninitialized as max_ps does.
  float lanes[kLanes];
  _mm512_storeu_ps(lanes, top);
  const __m512 max = _mm512_set1_ps(*std::max_element(lanes, lanes + kLanes));
  __m512 sum = _mm512_setzero_ps();
  for (i = 0; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const __m512 lo = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(row + i), max));
    const __m512 hi = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(row + i + kLanes), max));
    sum = _mm512_add_ps(sum, _mm512_add_ps(lo, hi));
    _mm512_storeu_si512(pairs + i / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  if (i < n) {  // fewer than 32 left: masked lanes are zero and stay unstored
    const int64_t left = n - i;
    const __mmask16 lo_mask =
        static_cast<__mmask16>(left >= kLanes ? kAllLanes : (1u << left) - 1u);
    const __mmask16 hi_mask =
        static_cast<__mmask16>(left > kLanes ? (1u << (left - kLanes)) - 1u : 0u);
    const __m512 lo = _mm512_maskz_mov_ps(
        lo_mask, exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(lo_mask, row + i), max)));
    const __m512 hi = _mm512_maskz_mov_ps(
        hi_mask,
        exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(hi_mask, row + i + kLanes), max)));
    sum = _mm512_add_ps(sum, _mm512_add_ps(lo, hi));
    const __mmask16 words = static_cast<__mmask16>((1u << ((left + 1) / 2)) - 1u);
    _mm512_mask_storeu_epi32(pairs + i / 2, words, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  _mm512_storeu_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

float at(const Strided& m, int64_t r, int64_t c) {
  return m.data[r * m.row_stride + c * m.col_stride];
}

}  // namespace

void pack_head(Kind kind, const Strided& keys, const Strided& values, PackedHead& head) {
  const int64_t depth = keys.rows, n = keys.cols, dv = values.cols;
  const int64_t panels = (n + kLanes - 1) / kLanes;
  const int64_t value_stride = round_up(dv, kLanes);
  head.kind = kind;
  head.depth = depth;
  head.keys = n;
  head.value_cols = dv;
  head.value_stride = value_stride;
  // A key panel holds 16 keys' values at each step: [panel][step][lane].
  const int64_t steps = kind == Kind::f32 ? depth : (depth + 1) / 2;
  uint32_t* kw = head.key_words.reserve(static_cast<std::size_t>(panels * steps * kLanes));
  const int64_t value_rows = kind == Kind::f32 ? n : (n + 1) / 2;
  uint32_t* vw = head.value_words.reserve(static_cast<std::size_t>(value_rows * value_stride));
  head.packed_keys = kw;
  head.packed_values = vw;
  if (kind == Kind::f32) {
    auto* kp = reinterpret_cast<float*>(kw);
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t d = 0; d < depth; ++d)
        for (int64_t l = 0; l < kLanes; ++l) {
          const int64_t j = p * kLanes + l;
          kp[(p * steps + d) * kLanes + l] = j < n ? at(keys, d, j) : 0.f;
        }
    auto* vp = reinterpret_cast<float*>(vw);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < value_stride; ++c)
        vp[j * value_stride + c] = c < dv ? at(values, j, c) : 0.f;
    return;
  }
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t t = 0; t < steps; ++t)
      for (int64_t l = 0; l < kLanes; ++l) {
        const int64_t j = p * kLanes + l, d = 2 * t;
        const bool in = j < n;
        kw[(p * steps + t) * kLanes + l] =
            bf16_pair(in ? at(keys, d, j) : 0.f, in && d + 1 < depth ? at(keys, d + 1, j) : 0.f);
      }
  for (int64_t t = 0; t < value_rows; ++t)
    for (int64_t c = 0; c < value_stride; ++c) {
      const int64_t j = 2 * t;
      const bool in = c < dv;
      vw[t * value_stride + c] =
          bf16_pair(in ? at(values, j, c) : 0.f, in && j + 1 < n ? at(values, j + 1, c) : 0.f);
    }
}

void attend(const Strided& queries, float scale, const PackedHead& head, const float* mask,
            int64_t mask_row, int64_t mask_col, float* out, int64_t ldo, BlockScratch& scratch) {
  const int64_t rows = queries.rows, depth = head.depth, n = head.keys;
  const int64_t panels = (n + kLanes - 1) / kLanes;
  // Rows of scores a power-of-two apart would share cache sets when a tile reads eight of them
  // at once; one vector more keeps them apart.
  const int64_t lds = panels * kLanes + kLanes;
  float* scores = reinterpret_cast<float*>(scratch.scores.reserve(rows * lds));
  scratch.inverse_sums.resize(static_cast<std::size_t>(rows));
  const bool f32 = head.kind == Kind::f32;
  const int64_t steps = f32 ? depth : (depth + 1) / 2;
  // The queries, scaled, as the products read them: [rows][steps], contiguous.
  uint32_t* qw = scratch.queries.reserve(static_cast<std::size_t>(rows * steps));
  for (int64_t r = 0; r < rows; ++r) {
    if (f32) {
      auto* q = reinterpret_cast<float*>(qw) + r * steps;
      for (int64_t d = 0; d < depth; ++d) q[d] = scale * at(queries, r, d);
    } else {
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t d = 2 * t;
        qw[r * steps + t] = bf16_pair(scale * at(queries, r, d),
                                      d + 1 < depth ? scale * at(queries, r, d + 1) : 0.f);
      }
    }
  }
  // Scores: the key panels are the B of the product, one panel per vector of columns.
  const int64_t panel_words = steps * kLanes;
  if (f32) {
    product<F32>(rows, reinterpret_cast<const float*>(qw), steps, steps,
                 static_cast<const float*>(head.packed_keys), kLanes, panel_words, panels * kLanes,
                 scores, lds, nullptr);
  } else {
    product<Bf16>(rows, qw, steps, steps, static_cast<const uint32_t*>(head.packed_keys), kLanes,
                  panel_words, panels * kLanes, scores, lds, nullptr);
  }
  const int64_t pairs = (n + 1) / 2;
  uint32_t* pw =
      f32 ? nullptr : scratch.probabilities.reserve(static_cast<std::size_t>(rows * pairs));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = scores + r * lds;
    if (mask) {
      const float* m = mask + r * mask_row;
      for (int64_t j = 0; j < n; ++j) row[j] += m[j * mask_col];
    }
    // The softmax's division is applied to the product's rows (Dv values each), not to the
    // probabilities (N each).
    scratch.inverse_sums[r] =
        1.f / (f32 ? vec::softmax_numerators(row, n) : numerators_to_pairs(row, n, pw + r * pairs));
  }
  if (f32) {
    product<F32>(rows, scores, lds, n, static_cast<const float*>(head.packed_values),
                 head.value_stride, kLanes, head.value_cols, out, ldo, scratch.inverse_sums.data());
  } else {
    product<Bf16>(rows, pw, pairs, pairs, static_cast<const uint32_t*>(head.packed_values),
                  head.value_stride, kLanes, head.value_cols, out, ldo,
                  scratch.inverse_sums.data());
  }
}

}  // namespace sinter::cpu::attention_tiles

#if defined(__clang__)
#pragma clang attribute pop
#endif
