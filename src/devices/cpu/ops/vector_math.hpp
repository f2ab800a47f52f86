// Small float kernels for work too fine-grained for a oneDNN primitive call or not in oneDNN:
// the per-time-step products and gate activations of the recurrent layers, normalisation
// statistics and the fused group normalisation's affine + SiLU pass. Each is compiled for AVX-512,
// AVX2+FMA and baseline x86-64 (the project builds without -march, so plain loops would
// otherwise be SSE2 only) and the best the CPU runs is picked when the library loads, capped by
// SINTER_CPU_VEC_ISA (avx512, avx2, baseline) or else by oneDNN's ONEDNN_MAX_CPU_ISA, so that
// tests run the AVX2 and baseline code on any machine.
#pragma once

#include <cstdint>

namespace sinter::cpu::vec {

#include "devices/cpu/ops/vector_math_signatures.inc"

// The instruction set of the kernels in use: "avx512", "avx2" or "baseline".
const char* vector_isa();

}  // namespace sinter::cpu::vec
