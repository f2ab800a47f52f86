// The vector kernels once per instruction set (vector_math_kernels.inc compiled three times), for
// the dispatch in vector_math.cpp only; everything else calls vector_math.hpp.
#pragma once

#include <cstdint>

#include "base/half.hpp"  // the scalar conversions behind widen_half's and narrow_to_half's tails

namespace sinter::cpu::vec::avx512 {
#include "devices/cpu/ops/vector_math_signatures.inc"
}  // namespace sinter::cpu::vec::avx512

namespace sinter::cpu::vec::avx2 {
#include "devices/cpu/ops/vector_math_signatures.inc"
}  // namespace sinter::cpu::vec::avx2

namespace sinter::cpu::vec::baseline {
#include "devices/cpu/ops/vector_math_signatures.inc"
}  // namespace sinter::cpu::vec::baseline
