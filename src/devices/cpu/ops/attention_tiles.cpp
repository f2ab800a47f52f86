// Which attention tiles this CPU runs (attention_tiles.hpp) and the packing of a head, which is
// the same for every instruction set; the tiles themselves are in attention_tiles_avx512.cpp
// (compiled for AVX-512 with BF16) and attention_tiles_avx2.cpp (AVX2 + FMA, f32), each called
// only where available.
#include "devices/cpu/ops/attention_tiles.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <dnnl.hpp>

#include "devices/cpu/ops/attention_tiles_variants.hpp"
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

// The vector kernels' choice carries SINTER_CPU_VEC_ISA (or ONEDNN_MAX_CPU_ISA) and the CPU's
// own check; the tiles follow it.
bool on_avx512() {
  static const bool avx512 = std::strcmp(vec::vector_isa(), "avx512") == 0;
  return avx512;
}

bool on_avx2() {
  static const bool avx2 = std::strcmp(vec::vector_isa(), "avx2") == 0;
  return avx2;
}

// Linux hands a process AMX's tile registers only once it asks (arch_prctl, since 5.16);
// oneDNN asks for its own kernels, this asks again for ours, which costs nothing when granted.
bool tile_data_permitted() {
  constexpr long kRequestPermission = 0x1023;  // ARCH_REQ_XCOMP_PERM
  constexpr long kTileData = 18;               // XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
}

}  // namespace

bool amx_tiles() {
  // oneDNN's effective ISA carries the CPU's and the OS's support and ONEDNN_MAX_CPU_ISA, so
  // that AVX512_CORE_BF16 there tests the AVX512_BF16 tiles on an AMX machine.
  static const bool amx =
      dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx && tile_data_permitted();
  return amx;
}

const char* bf16_instruction_set() {
  return on_avx512() && amx_tiles() ? "AMX" : "AVX512_BF16";
}

bool available(Kind kind) {
  static const bool f32 = (on_avx512() || on_avx2()) && !switched_off();
  static const bool bf16 = on_avx512() && !switched_off() && onednn_runs_bf16();
  return kind == Kind::f32 ? f32 : bf16;
}

int64_t max_block_rows() {
  return on_avx512() ? kMaxBlockRows : kAvx2BlockRows;
}

const char* instruction_set() {
  return on_avx512() ? "AVX-512" : "AVX2";
}

void pack_head(Kind kind, const Strided& keys, const Strided& values, PackedHead& head) {
  const int64_t depth = keys.rows, n = keys.cols, dv = values.cols;
  head.kind = kind;
  head.depth = depth;
  head.keys = n;
  head.value_cols = dv;
  if (kind == Kind::f32) {
    auto* kp =
        reinterpret_cast<float*>(head.key_words.reserve(static_cast<std::size_t>(n * depth)));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t d = 0; d < depth; ++d) kp[j * depth + d] = at(keys, d, j);
    head.value_stride = value_row_stride(n);
    auto* vp = reinterpret_cast<float*>(
        head.value_words.reserve(static_cast<std::size_t>(dv * head.value_stride)));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < dv; ++c) vp[c * head.value_stride + j] = at(values, j, c);
    head.packed_keys = kp;
    head.packed_values = vp;
    head.key_stride = depth;
    head.amx = false;
    return;
  }
  // Pairs of depths for the scores, pairs of keys for the values; odd ends paired with zero.
  // Scalar, one rounding per element: where the strides allow, the vector packing (the same
  // words) took SD's 4096-token heads 9% of their attention time this way.
  head.amx = amx_tiles();
  const Bf16Layout layout = bf16_layout(depth, n, dv, head.amx);
  head.key_stride = layout.key_stride;
  head.value_stride = layout.value_stride;
  const auto key_words = static_cast<std::size_t>(layout.key_rows * layout.key_stride);
  const auto value_words = static_cast<std::size_t>(layout.value_rows * layout.value_stride);
  uint32_t* kw = head.key_words.reserve(key_words);
  uint32_t* vw = head.value_words.reserve(value_words);
  if (head.amx) {
    std::memset(kw, 0, key_words * sizeof(uint32_t));
    std::memset(vw, 0, value_words * sizeof(uint32_t));
  }
  head.packed_keys = kw;
  head.packed_values = vw;
  if (pack_head_bf16_avx512(keys, values, kw, head.key_stride, vw, head.value_stride)) return;
  const int64_t depth_pairs = (depth + 1) / 2, key_pairs = (n + 1) / 2;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t t = 0; t < depth_pairs; ++t) {
      const int64_t d = 2 * t;
      kw[j * head.key_stride + t] =
          bf16_pair(at(keys, d, j), d + 1 < depth ? at(keys, d + 1, j) : 0.f);
    }
  for (int64_t t = 0; t < key_pairs; ++t)
    for (int64_t c = 0; c < dv; ++c) {
      const int64_t j = 2 * t;
      vw[c * head.value_stride + t] =
          bf16_pair(at(values, j, c), j + 1 < n ? at(values, j + 1, c) : 0.f);
    }
}

void attend(const Strided& queries, float scale, const PackedHead& head, const float* mask,
            int64_t mask_row, int64_t mask_col, float* out, int64_t ldo, BlockScratch& scratch) {
  if (on_avx512())
    attend_avx512(queries, scale, head, mask, mask_row, mask_col, out, ldo, scratch);
  else
    attend_avx2(queries, scale, head, mask, mask_row, mask_col, out, ldo, scratch);
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
