// The vector kernels for AVX-512 (x86-64-v4: AVX512F/BW/CD/DQ/VL): every header first, then the
// instruction set, then the kernels (vector_math_kernels.inc says why in that order).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include <immintrin.h>

#include "devices/cpu/ops/vector_math_variants.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4"))), apply_to = function)
#else
#pragma GCC target("arch=x86-64-v4")
#endif
#define SINTER_VEC_VARIANT avx512
#define SINTER_VEC_BITS 512  // what the .inc can test (clang defines no __AVX2__ here)
#include "devices/cpu/ops/vector_math_kernels.inc"
#if defined(__clang__)
#pragma clang attribute pop
#endif
