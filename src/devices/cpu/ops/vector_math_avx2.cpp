// The vector kernels for AVX2 + FMA (x86-64-v3): every header first, then the
// instruction set, then the kernels (vector_math_kernels.inc says why in that order).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include <immintrin.h>

#include "devices/cpu/ops/vector_math_variants.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#else
#pragma GCC target("arch=x86-64-v3")
#endif
#define SINTER_VEC_VARIANT avx2
#define SINTER_VEC_BITS 256  // what the .inc can test (clang defines no __AVX2__ here)
#include "devices/cpu/ops/vector_math_kernels.inc"
#if defined(__clang__)
#pragma clang attribute pop
#endif
