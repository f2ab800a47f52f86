#include "devices/cpu/ops/vector_math.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

// One copy of a function per instruction set, chosen when the library is loaded (GNU ifunc).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SINTER_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SINTER_MULTIVERSION
#endif
#define SINTER_ALWAYS_INLINE inline __attribute__((always_inline))

namespace sinter::cpu::vec {

namespace {

// exp(x) for x in [-87, 88] (clamped outside): x = n ln2 + r with |r| <= ln2/2, exp(r) by its
// Taylor polynomial to r^7 (truncation error below 1e-8), 2^n built in the exponent bits.
// Branch-free so that loops over it vectorise.
SINTER_ALWAYS_INLINE float exp_bounded(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // Round x / ln2 to an integer by adding and removing 1.5 * 2^23 (no rounding instruction
  // needed; compilers keep the pair without -ffast-math).
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  // ln2 split into a part with few mantissa bits (n * hi is exact) and the rest.
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return p * scale;
}

// tanh for |x| < 0.55 by its odd Taylor series to x^15 (error below 1e-7 relative there), where
// 1 - 2 / (exp(2x) + 1) would lose digits to cancellation.
SINTER_ALWAYS_INLINE float tanh_small(float x) {
  const float x2 = x * x;
  float p = -929569.0f / 638512875.0f;
  p = p * x2 + 21844.0f / 6081075.0f;
  p = p * x2 - 1382.0f / 155925.0f;
  p = p * x2 + 62.0f / 2835.0f;
  p = p * x2 - 17.0f / 315.0f;
  p = p * x2 + 2.0f / 15.0f;
  p = p * x2 - 1.0f / 3.0f;
  p = p * x2 + 1.0f;
  return p * x;
}

// Rows r0..r0+R of out[:, j0:j0+kBlock] += a * b: the block of out stays in registers while p
// runs, so every element of b loaded is used R times.
constexpr int64_t kBlock = 32;
template <int R>
SINTER_ALWAYS_INLINE void product_block(int64_t k, const float* a, int64_t lda, const float* b,
                                        int64_t ldb, float* out, int64_t ldo) {
  float acc[R][kBlock];
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < kBlock; ++j) acc[r][j] = out[r * ldo + j];
  for (int64_t p = 0; p < k; ++p) {
    const float* bp = b + p * ldb;
    for (int r = 0; r < R; ++r) {
      const float s = a[r * lda + p];
      for (int64_t j = 0; j < kBlock; ++j) acc[r][j] += s * bp[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < kBlock; ++j) out[r * ldo + j] = acc[r][j];
}

template <int R>
SINTER_ALWAYS_INLINE void product_rows(int64_t n, int64_t k, const float* a, int64_t lda,
                                       const float* b, int64_t ldb, float* out, int64_t ldo) {
  int64_t j0 = 0;
  for (; j0 + kBlock <= n; j0 += kBlock) product_block<R>(k, a, lda, b + j0, ldb, out + j0, ldo);
  for (int r = 0; r < R; ++r)
    for (int64_t j = j0; j < n; ++j) {
      float s = out[r * ldo + j];
      for (int64_t p = 0; p < k; ++p) s += a[r * lda + p] * b[p * ldb + j];
      out[r * ldo + j] = s;
    }
}

}  // namespace

SINTER_MULTIVERSION
void sigmoid(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = 1.0f / (1.0f + exp_bounded(-v[i]));
}

SINTER_MULTIVERSION
void tanh(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = v[i];
    // Beyond 9, tanh rounds to +-1 in float.
    const float a = std::min(std::fabs(x), 9.0f);
    const float large = 1.0f - 2.0f / (exp_bounded(2.0f * a) + 1.0f);
    const float magnitude = a < 0.55f ? tanh_small(a) : large;
    v[i] = std::copysign(magnitude, x);
  }
}

SINTER_MULTIVERSION
void swish(float* v, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) v[i] = v[i] / (1.0f + exp_bounded(-alpha * v[i]));
}

SINTER_MULTIVERSION
void min_max(const float* x, int64_t n, float& lo, float& hi) {
  // 16 lanes each way, so the loop vectorises without reassociating anything but min and max.
  constexpr int64_t kLanes = 16;
  float l[kLanes], h[kLanes];
  for (int64_t k = 0; k < kLanes; ++k) l[k] = lo, h[k] = hi;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) {
      // x < l ? x : l is false for NaN x: NaNs never enter.
      l[k] = x[i + k] < l[k] ? x[i + k] : l[k];
      h[k] = x[i + k] > h[k] ? x[i + k] : h[k];
    }
  for (; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  for (int64_t k = 0; k < kLanes; ++k) lo = std::min(lo, l[k]), hi = std::max(hi, h[k]);
}

SINTER_MULTIVERSION
void quantize_u8(const float* x, int64_t n, float scale, int zero_point, uint8_t* q) {
  const float lowest = static_cast<float>(-zero_point),
              highest = static_cast<float>(255 - zero_point);
  for (int64_t i = 0; i < n; ++i) {
    const float r = std::nearbyint(x[i] / scale);
    q[i] =
        static_cast<uint8_t>(static_cast<int>(std::min(std::max(r, lowest), highest)) + zero_point);
  }
}

SINTER_MULTIVERSION
void scale_shift(const float* x, float mul, float add, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * mul + add;
}

namespace {

// Sum of f(x[i]) over runs of kRun elements in 16 float lanes (vectorisable without
// reassociating), each run's total added in double: float error stays that of a short sum.
constexpr int64_t kRun = 256, kLanes = 16;
template <typename F>
SINTER_ALWAYS_INLINE double run_sum(const float* x, int64_t n, F f) {
  double total = 0;
  int64_t i = 0;
  for (; i + kRun <= n; i += kRun) {
    float lanes[kLanes] = {};
    for (int64_t j = 0; j < kRun; j += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] += f(x[i + j + l]);
    float run = 0;
    for (int64_t l = 0; l < kLanes; ++l) run += lanes[l];
    total += run;
  }
  for (; i < n; ++i) total += f(x[i]);
  return total;
}

}  // namespace

SINTER_MULTIVERSION
double sum(const float* x, int64_t n) {
  return run_sum(x, n, [](float v) { return v; });
}

SINTER_MULTIVERSION
void mean_and_variance(const float* x, int64_t n, double& mean, double& variance) {
  if (n <= 0) {
    mean = variance = 0;
    return;
  }
  mean = run_sum(x, n, [](float v) { return v; }) / static_cast<double>(n);
  const float m = static_cast<float>(mean);
  // Deviations from the float mean; the tiny offset of that mean from the exact one is
  // corrected for (sum of (x - m)^2 = n var + n (mean - m)^2).
  const double offset = mean - static_cast<double>(m);
  const double squares = run_sum(x, n, [m](float v) { return (v - m) * (v - m); });
  variance = std::max(0.0, squares / static_cast<double>(n) - offset * offset);
}

namespace {

SINTER_ALWAYS_INLINE float row_max(const float* v, int64_t n) {
  float lanes[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) lanes[l] = v[0];
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] = std::max(lanes[l], v[i + l]);
  float max = v[0];
  for (int64_t l = 0; l < kLanes; ++l) max = std::max(max, lanes[l]);
  for (; i < n; ++i) max = std::max(max, v[i]);
  return max;
}

}  // namespace

SINTER_MULTIVERSION
void softmax(float* v, int64_t n) {
  if (n <= 0) return;
  const float max = row_max(v, n);
  for (int64_t j = 0; j < n; ++j) v[j] = exp_bounded(v[j] - max);
  const double sum = run_sum(v, n, [](float x) { return x; });
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) v[j] *= inv;
}

namespace {

// exp(v[i] - max) for every i, handed to store(i, e), summed in lanes.
template <typename Store>
SINTER_ALWAYS_INLINE float numerators(const float* v, int64_t n, Store store) {
  if (n <= 0) return 0.f;
  const float max = row_max(v, n);
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) {
      const float e = exp_bounded(v[i + l] - max);
      store(i + l, e);
      lanes[l] += e;
    }
  float sum = 0;
  for (; i < n; ++i) {
    const float e = exp_bounded(v[i] - max);
    store(i, e);
    sum += e;
  }
  for (int64_t l = 0; l < kLanes; ++l) sum += lanes[l];
  return sum;
}

}  // namespace

SINTER_MULTIVERSION
float softmax_numerators(float* v, int64_t n) {
  return numerators(v, n, [v](int64_t i, float e) { v[i] = e; });
}

// Four rows per pass over acc: a quarter of the accumulator loads and stores.
SINTER_MULTIVERSION
void add_rows(const float* x, int64_t rows, int64_t width, float* acc) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* x0 = x + r * width;
    for (int64_t c = 0; c < width; ++c)
      acc[c] += (x0[c] + x0[width + c]) + (x0[2 * width + c] + x0[3 * width + c]);
  }
  for (; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) acc[c] += x[r * width + c];
}

SINTER_MULTIVERSION
void add_squared_deviations(const float* x, int64_t rows, int64_t width, const float* mean,
                            float* acc) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* x0 = x + r * width;
    for (int64_t c = 0; c < width; ++c) {
      const float d0 = x0[c] - mean[c], d1 = x0[width + c] - mean[c];
      const float d2 = x0[2 * width + c] - mean[c], d3 = x0[3 * width + c] - mean[c];
      acc[c] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
    }
  }
  for (; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) {
      const float d = x[r * width + c] - mean[c];
      acc[c] += d * d;
    }
}

SINTER_MULTIVERSION
void multiply_rows(const float* x, int64_t rows, int64_t width, const float* mul, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) y[r * width + c] = x[r * width + c] * mul[c];
}

SINTER_MULTIVERSION
void scale_shift_rows(const float* x, int64_t rows, int64_t width, const float* mul,
                      const float* add, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) y[r * width + c] = x[r * width + c] * mul[c] + add[c];
}

SINTER_MULTIVERSION
void accumulate_product(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float* out, int64_t ldo) {
  int64_t r = 0;
  for (; r + 4 <= m; r += 4) product_rows<4>(n, k, a + r * lda, lda, b, ldb, out + r * ldo, ldo);
  const float* ar = a + r * lda;
  float* outr = out + r * ldo;
  switch (m - r) {
    case 3:
      product_rows<3>(n, k, ar, lda, b, ldb, outr, ldo);
      break;
    case 2:
      product_rows<2>(n, k, ar, lda, b, ldb, outr, ldo);
      break;
    case 1:
      product_rows<1>(n, k, ar, lda, b, ldb, outr, ldo);
      break;
    default:
      break;
  }
}

}  // namespace sinter::cpu::vec
