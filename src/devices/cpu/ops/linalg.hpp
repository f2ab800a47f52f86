// Matrix products shared by MatMul, Gemm, RNNs and the quantized ops.
#pragma once

#include <cstdint>

namespace sinter::cpu {

// C = alpha * op(A) * op(B) + beta * C, row-major, float32 (oneDNN's sgemm).
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc);

// Same contract for any arithmetic type, computed in Acc (plain loops).
template <typename T, typename Acc>
void gemm_generic(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, Acc alpha,
                  const T* a, int64_t lda, const T* b, int64_t ldb, Acc beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      Acc acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        const Acc av = static_cast<Acc>(trans_a ? a[p * lda + i] : a[i * lda + p]);
        const Acc bv = static_cast<Acc>(trans_b ? b[j * ldb + p] : b[p * ldb + j]);
        acc += av * bv;
      }
      Acc prev = beta == Acc(0) ? Acc(0) : static_cast<Acc>(c[i * ldc + j]) * beta;
      c[i * ldc + j] = static_cast<T>(alpha * acc + prev);
    }
  }
}

}  // namespace sinter::cpu
