// Which attention tiles this CPU runs (attention_tiles.hpp); the tiles themselves are in
// attention_tiles_avx512.cpp, compiled for AVX-512 with BF16 and called only where available.
#include "devices/cpu/ops/attention_tiles.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#include <dnnl.hpp>

#include "devices/cpu/ops/vector_math.hpp"

namespace sinter::cpu::attention_tiles {

namespace {

// What oneDNN may use (the CPU's instructions, capped by ONEDNN_MAX_CPU_ISA): the tiles follow
// it, so that one variable tests the f32 tiles on a machine with BF16.
bool onednn_runs_bf16() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

// SINTER_CPU_ATTENTION_TILES=0 keeps attention on sgemm, to compare the two.
bool switched_off() {
  const char* env = std::getenv("SINTER_CPU_ATTENTION_TILES");
  return env && std::string(env) == "0";
}

}  // namespace

bool available(Kind kind) {
  // The AVX-512 vector kernels' choice carries SINTER_CPU_VEC_ISA and the CPU's AVX-512 check.
  static const bool f32 = std::strcmp(vec::vector_isa(), "avx512") == 0 && !switched_off();
  static const bool bf16 = f32 && onednn_runs_bf16();
  return kind == Kind::f32 ? f32 : bf16;
}

std::optional<Kind> tiles_for(bool compute_bf16) {
  if (compute_bf16 && available(Kind::bf16)) return Kind::bf16;
  if (available(Kind::f32)) return Kind::f32;
  return std::nullopt;
}

uint32_t* AlignedWords::reserve(std::size_t words) {
  constexpr std::size_t kAlignWords = 16;  // 64 bytes
  if (storage_.size() < words + kAlignWords) storage_.resize(words + kAlignWords);
  auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
  const std::size_t skip = ((64 - address % 64) % 64) / sizeof(uint32_t);
  return storage_.data() + skip;
}

}  // namespace sinter::cpu::attention_tiles
