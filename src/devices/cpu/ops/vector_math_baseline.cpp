// The vector kernels for baseline x86-64 (SSE2): every header first, then the
// instruction set, then the kernels (vector_math_kernels.inc says why in that order).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "devices/cpu/ops/vector_math_variants.hpp"

#define SINTER_VEC_VARIANT baseline
#define SINTER_VEC_BITS 128  // what the .inc can test (clang defines no __AVX2__ here)
#include "devices/cpu/ops/vector_math_kernels.inc"
