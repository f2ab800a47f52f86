// Small float kernels for work too fine-grained for a oneDNN primitive call or not in oneDNN:
// the per-time-step products and gate activations of the recurrent layers, normalisation
// statistics and the fused group normalisation's affine + SiLU pass. Each is compiled for AVX-512,
// AVX2+FMA and baseline x86-64 and the loader picks the one the CPU runs (the project builds
// without -march, so plain loops would otherwise be SSE2 only).
#pragma once

#include <cstdint>

namespace sinter::cpu::vec {

// v[i] = 1 / (1 + exp(-v[i])), relative error below 1e-6.
void sigmoid(float* v, int64_t n);
// v[i] = tanh(v[i]), relative error below 1e-6.
void tanh(float* v, int64_t n);

// v[i] = v[i] * sigmoid(alpha * v[i]) (SiLU for alpha 1).
void swish(float* v, int64_t n, float alpha);
// y[i] = x[i] * mul + add.
void scale_shift(const float* x, float mul, float add, float* y, int64_t n);
// Sum of x[0..n): float partial sums of short runs accumulated in double.
double sum(const float* x, int64_t n);
// Mean and (biased) variance of x[0..n), two passes, float partial sums of short runs
// accumulated in double.
void mean_and_variance(const float* x, int64_t n, double& mean, double& variance);

// v = softmax(v) over its n elements (max subtracted first; an empty row stays empty).
void softmax(float* v, int64_t n);
// The softmax's numerators in one pass after the maximum: v = exp(v - max v); returns their
// sum (0 for an empty row). softmax = v / sum: a caller that multiplies v by a matrix next can
// divide the shorter product row instead of v.
float softmax_numerators(float* v, int64_t n);

// Column sums and squared deviations of `rows` rows of `width` floats (row-major): the
// channel statistics of a channels-last tensor. acc[c] += sum_r x[r][c], resp.
// sum_r (x[r][c] - mean[c])^2.
void add_rows(const float* x, int64_t rows, int64_t width, float* acc);
void add_squared_deviations(const float* x, int64_t rows, int64_t width, const float* mean,
                            float* acc);
// y[r][c] = x[r][c] * mul[c] for `rows` rows of `width`.
void multiply_rows(const float* x, int64_t rows, int64_t width, const float* mul, float* y);
// y[r][c] = x[r][c] * mul[c] + add[c] for `rows` rows of `width`.
void scale_shift_rows(const float* x, int64_t rows, int64_t width, const float* mul,
                      const float* add, float* y);

// Smallest and largest of x[0..n) folded into lo and hi (which the caller starts, e.g. at 0 for
// DynamicQuantizeLinear's range). NaNs are skipped.
void min_max(const float* x, int64_t n, float& lo, float& hi);
// q[i] = clamp(round_half_even(x[i] / scale) + zero_point, 0, 255), dividing in float as ONNX's
// reference and ONNX Runtime do (multiplying by 1 / scale rounds some ties the other way).
void quantize_u8(const float* x, int64_t n, float scale, int zero_point, uint8_t* q);

// out[r][j] += sum_p a[r][p] * b[p][j] for r < m, j < n, p < k (row-major, leading dimensions
// lda, ldb, ldo). Meant for few rows (a recurrent state times its weights).
void accumulate_product(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float* out, int64_t ldo);

}  // namespace sinter::cpu::vec
