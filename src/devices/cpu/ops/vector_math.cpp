// Which compiled copy of the vector kernels runs (vector_math_variants.hpp), and the calls that
// forward to it.
#include "devices/cpu/ops/vector_math.hpp"

#include <cstdlib>
#include <string>

#include "base/logging.hpp"
#include "devices/cpu/ops/vector_math_variants.hpp"

namespace sinter::cpu::vec {

namespace {

enum class Isa { baseline = 0, avx2 = 1, avx512 = 2 };

Isa supported() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    return Isa::avx512;
  // (F16C, LZCNT and MOVBE, also part of x86-64-v3, come with AVX2 and FMA on every CPU made;
  // clang cannot ask for F16C here.)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    return Isa::avx2;
#endif
  return Isa::baseline;
}

// The cap set for the process: SINTER_CPU_VEC_ISA, else what ONEDNN_MAX_CPU_ISA (or its older
// name DNNL_MAX_CPU_ISA) allows oneDNN, so that one variable moves both; no cap when neither
// is set or a value is not one of these.
Isa cap() {
  const char* own = std::getenv("SINTER_CPU_VEC_ISA");
  if (own && *own) {
    const std::string v = own;
    if (v == "baseline") return Isa::baseline;
    if (v == "avx2") return Isa::avx2;
    if (v == "avx512") return Isa::avx512;
    log().warn("SINTER_CPU_VEC_ISA='{}' is not one of avx512, avx2, baseline; ignored", v);
  }
  const char* onednn = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!onednn || !*onednn) onednn = std::getenv("DNNL_MAX_CPU_ISA");
  if (onednn && *onednn) {
    std::string v = onednn;
    for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (v == "SSE41" || v == "AVX") return Isa::baseline;
    if (v.rfind("AVX2", 0) == 0) return Isa::avx2;
  }
  return Isa::avx512;
}

struct Kernels {
  Isa isa;
  decltype(&baseline::sigmoid) sigmoid;
  decltype(&baseline::tanh) tanh;
  decltype(&baseline::swish) swish;
  decltype(&baseline::gated_gelu) gated_gelu;
  decltype(&baseline::relu) relu;
  decltype(&baseline::scale_shift) scale_shift;
  decltype(&baseline::sum) sum;
  decltype(&baseline::mean_and_variance) mean_and_variance;
  decltype(&baseline::softmax) softmax;
  decltype(&baseline::softmax_numerators) softmax_numerators;
  decltype(&baseline::add_rows) add_rows;
  decltype(&baseline::add_squared_deviations) add_squared_deviations;
  decltype(&baseline::multiply_rows) multiply_rows;
  decltype(&baseline::scale_shift_rows) scale_shift_rows;
  decltype(&baseline::min_max) min_max;
  decltype(&baseline::widen_half) widen_half;
  decltype(&baseline::narrow_to_half) narrow_to_half;
  decltype(&baseline::quantize_u8) quantize_u8;
  decltype(&baseline::accumulate_product) accumulate_product;
  decltype(&baseline::accumulate_dot_products) accumulate_dot_products;
  decltype(&baseline::accumulate_dot_products_i16) accumulate_dot_products_i16;
  decltype(&baseline::depthwise_row) depthwise_row;
};

#define SINTER_VEC_KERNELS(ns)                                                                     \
  Kernels {                                                                                        \
    Isa::ns, ns::sigmoid, ns::tanh, ns::swish, ns::gated_gelu, ns::relu, ns::scale_shift, ns::sum, \
        ns::mean_and_variance, ns::softmax, ns::softmax_numerators, ns::add_rows,                  \
        ns::add_squared_deviations, ns::multiply_rows, ns::scale_shift_rows, ns::min_max,          \
        ns::widen_half, ns::narrow_to_half, ns::quantize_u8, ns::accumulate_product,               \
        ns::accumulate_dot_products, ns::accumulate_dot_products_i16, ns::depthwise_row            \
  }

const Kernels& kernels() {
  static const Kernels chosen = [] {
    const Isa isa = std::min(supported(), cap());
    if (isa == Isa::avx512) return SINTER_VEC_KERNELS(avx512);
    if (isa == Isa::avx2) return SINTER_VEC_KERNELS(avx2);
    return SINTER_VEC_KERNELS(baseline);
  }();
  return chosen;
}

#undef SINTER_VEC_KERNELS

}  // namespace

const char* vector_isa() {
  switch (kernels().isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    case Isa::baseline:
      break;
  }
  return "baseline";
}

void sigmoid(float* v, int64_t n) {
  kernels().sigmoid(v, n);
}
void tanh(float* v, int64_t n) {
  kernels().tanh(v, n);
}
void swish(float* v, int64_t n, float alpha) {
  kernels().swish(v, n, alpha);
}
void gated_gelu(const float* values, const float* gates, float* y, int64_t n) {
  kernels().gated_gelu(values, gates, y, n);
}
void relu(float* v, int64_t n) {
  kernels().relu(v, n);
}
void scale_shift(const float* x, float mul, float add, float* y, int64_t n) {
  kernels().scale_shift(x, mul, add, y, n);
}
double sum(const float* x, int64_t n) {
  return kernels().sum(x, n);
}
void mean_and_variance(const float* x, int64_t n, double& mean, double& variance) {
  kernels().mean_and_variance(x, n, mean, variance);
}
void softmax(float* v, int64_t n) {
  kernels().softmax(v, n);
}
float softmax_numerators(float* v, int64_t n) {
  return kernels().softmax_numerators(v, n);
}
void add_rows(const float* x, int64_t rows, int64_t width, float* acc) {
  kernels().add_rows(x, rows, width, acc);
}
void add_squared_deviations(const float* x, int64_t rows, int64_t width, const float* mean,
                            float* acc) {
  kernels().add_squared_deviations(x, rows, width, mean, acc);
}
void multiply_rows(const float* x, int64_t rows, int64_t width, const float* mul, float* y) {
  kernels().multiply_rows(x, rows, width, mul, y);
}
void scale_shift_rows(const float* x, int64_t rows, int64_t width, const float* mul,
                      const float* add, float* y) {
  kernels().scale_shift_rows(x, rows, width, mul, add, y);
}
void min_max(const float* x, int64_t n, float& lo, float& hi) {
  kernels().min_max(x, n, lo, hi);
}
void widen_half(const uint16_t* h, float* f, int64_t n) {
  kernels().widen_half(h, f, n);
}
void narrow_to_half(const float* f, uint16_t* h, int64_t n) {
  kernels().narrow_to_half(f, h, n);
}
void quantize_u8(const float* x, int64_t n, float scale, int zero_point, uint8_t* q) {
  kernels().quantize_u8(x, n, scale, zero_point, q);
}
void accumulate_product(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float* out, int64_t ldo) {
  kernels().accumulate_product(m, n, k, a, lda, b, ldb, out, ldo);
}
void accumulate_dot_products(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                             const float* b, int64_t ldb, float* out, int64_t ldo) {
  kernels().accumulate_dot_products(m, n, k, a, lda, b, ldb, out, ldo);
}
void accumulate_dot_products_i16(int64_t m, int64_t n, int64_t k, const int16_t* a, int64_t lda,
                                 const int16_t* b, int64_t ldb, float* out, int64_t ldo) {
  kernels().accumulate_dot_products_i16(m, n, k, a, lda, b, ldb, out, ldo);
}

void depthwise_row(const float* in, const float* taps, int64_t kw, int64_t stride, int64_t dilation,
                   int64_t pad, const int64_t* first, const int64_t* last, float* out) {
  kernels().depthwise_row(in, taps, kw, stride, dilation, pad, first, last, out);
}

}  // namespace sinter::cpu::vec
