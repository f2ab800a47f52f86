// Attention for one block of query rows, softmax(scale Q K + mask) V, with register-tiled
// AVX-512 or AVX2 products, computed transposed: the block's query rows lie across the vector
// lanes, so that scores [keys, rows], probabilities and the result [Dv, rows] are all vectors of
// query rows. Keys and values are packed once per head (keys as [N, D] rows, values as [Dv, N]
// rows, each broadcast one element at a time against the queries' vectors), and the keys are taken
// a chunk at a time with an online softmax (a running maximum and sum per query row, earlier sums
// and results rescaled when the maximum grows): a chunk's scores stay in L1, no value column is
// padded to a whole vector (SD's head size 40 filled 40 of 48 lanes when values were the
// vectors), and the maximum and sum are per-lane vector operations, never reductions across a
// vector. Two kinds: f32 (FMA; AVX-512 or AVX2) and bf16 products with f32 sums (AVX512_BF16's
// dot products of pairs), which halves the products' time where the CPU has them; the softmax is
// f32 in both.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace sinter::cpu::attention_tiles {

enum class Kind { f32, bf16 };

// The most query rows attend() takes at once: four vectors of 16 with AVX-512; max_block_rows()
// says how many this CPU's tiles take (fewer with AVX2).
constexpr int64_t kMaxBlockRows = 64;
int64_t max_block_rows();

// The instruction set the f32 tiles run on here, as placements name it: "AVX-512" or "AVX2".
const char* instruction_set();

// The instruction set the bf16 tiles' products run on, as placements name it: "AMX" where the
// CPU has it and oneDNN runs it (ONEDNN_MAX_CPU_ISA at AVX512_CORE_AMX or unset), else
// "AVX512_BF16".
const char* bf16_instruction_set();

// Whether this CPU runs the tiles of this kind: f32 where the AVX-512 or AVX2 vector kernels run
// (SINTER_CPU_VEC_ISA or ONEDNN_MAX_CPU_ISA can cap them), bf16 where AVX-512 and oneDNN run bf16
// (AVX512_BF16 or AMX, and ONEDNN_MAX_CPU_ISA at AVX512_CORE_BF16 or above); neither where
// SINTER_CPU_ATTENTION_TILES=0. Call pack_head and attend only where this is true.
bool available(Kind kind);

// The tiles an Attention node runs on (bf16 where it computes in bf16 and the CPU has them,
// else f32), or none: sgemm runs it. The op and its placement text both ask this.
std::optional<Kind> tiles_for(bool compute_bf16);

// A matrix read through strides: element (r, c) at data[r * row_stride + c * col_stride].
struct Strided {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0, row_stride = 0, col_stride = 0;
};

// Buffers of 64-byte aligned 32-bit words, reused from block to block on one thread.
class AlignedWords {
 public:
  uint32_t* reserve(std::size_t words);

 private:
  std::vector<uint32_t> storage_;
};

// Keys (logically [D, N]) and values ([N, Dv]) of one head, packed.
struct PackedHead {
  Kind kind = Kind::f32;
  int64_t depth = 0, keys = 0, value_cols = 0;
  const void* packed_keys = nullptr;    // [N][D] (f32) or [N][D/2 pairs of depths] (bf16)
  const void* packed_values = nullptr;  // [Dv][N] (f32) or [Dv][N/2 pairs of keys] (bf16)
  int64_t key_stride = 0;               // words from one packed key row to the next
  int64_t value_stride = 0;             // words from one packed value row to the next
  bool amx = false;                     // bf16 packed for AMX: padded with zeros to whole tiles
  AlignedWords key_words, value_words;
};

void pack_head(Kind kind, const Strided& keys, const Strided& values, PackedHead& head);

// Per-thread buffers of attend(), a few tens of KiB whatever the number of keys.
struct BlockScratch {
  AlignedWords queries, scores, probabilities, result;
};

// out[r * ldo + c] for r < queries.rows (at most max_block_rows()), c < Dv: the attention of those
// query rows (queries is [rows, D]) over the packed head. mask, when not null, is added to the
// scores: element (r, n) at mask[r * mask_row + n * mask_col].
void attend(const Strided& queries, float scale, const PackedHead& head, const float* mask,
            int64_t mask_row, int64_t mask_col, float* out, int64_t ldo, BlockScratch& scratch);

}  // namespace sinter::cpu::attention_tiles
