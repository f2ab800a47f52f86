// The attention tiles (attention_tiles.hpp: AVX-512, or AVX2 where SINTER_CPU_VEC_ISA=avx2 as
// the unit_attention_avx2 test sets it) against the definition computed here in double precision:
// softmax(scale Q K + mask) V. The bf16 tiles multiply bf16-rounded operands, so their reference
// takes Q (scaled), K and V rounded to bf16 first; what remains is the probabilities' rounding to
// bf16 (relative 2^-9 each), bounded by a share of max |V|.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "base/half.hpp"
#include "devices/cpu/ops/attention_tiles.hpp"

using namespace sinter;
using cpu::attention_tiles::Kind;
namespace tiles = cpu::attention_tiles;

namespace {

struct Case {
  int64_t rows, depth, keys, value_cols;
  bool masked;
};

// Operands laid out as exporters leave them after splitting heads: Q rows and V rows
// `heads * depth` apart, K read transposed (keys [N, D] in memory, read as [D, N]).
struct Operands {
  int64_t heads = 3, head = 1;  // this head's columns in the interleaved rows
  std::vector<float> q, k, v, mask;
};

Operands make_operands(const Case& c, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  Operands o;
  auto fill = [&](std::vector<float>& x, int64_t n) {
    x.resize(static_cast<std::size_t>(n));
    for (auto& e : x) e = u(rng);
  };
  fill(o.q, c.rows * o.heads * c.depth);
  fill(o.k, c.keys * o.heads * c.depth);
  fill(o.v, c.keys * o.heads * c.value_cols);
  fill(o.mask, c.rows * c.keys);
  return o;
}

float round_if(bool bf16_operands, float x) {
  return bf16_operands ? static_cast<float>(bf16(x)) : x;
}

// With `mask_of` set, the mask is mask_of(row, key) instead of random values.
void check(Kind kind, const Case& c, float (*mask_of)(int64_t, int64_t) = nullptr) {
  Operands o = make_operands(c, static_cast<unsigned>(c.rows * 131 + c.depth * 7 + c.keys));
  if (mask_of)
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t j = 0; j < c.keys; ++j) o.mask[r * c.keys + j] = mask_of(r, j);
  const float scale = 1.f / std::sqrt(static_cast<float>(c.depth));
  const int64_t qd = o.heads * c.depth, vd = o.heads * c.value_cols;
  const tiles::Strided q{o.q.data() + o.head * c.depth, c.rows, c.depth, qd, 1};
  const tiles::Strided k{o.k.data() + o.head * c.depth, c.depth, c.keys, 1, qd};
  const tiles::Strided v{o.v.data() + o.head * c.value_cols, c.keys, c.value_cols, vd, 1};
  tiles::PackedHead head;
  tiles::pack_head(kind, k, v, head);
  tiles::BlockScratch scratch;
  const int64_t ldo = c.value_cols + 3;
  std::vector<float> out(static_cast<std::size_t>(c.rows * ldo), -7.f);
  // In blocks of as many rows as this CPU's tiles take, as the Attention op calls them.
  const int64_t block = tiles::max_block_rows();
  for (int64_t r0 = 0; r0 < c.rows; r0 += block) {
    tiles::Strided rows = q;
    rows.data += r0 * q.row_stride;
    rows.rows = std::min(block, c.rows - r0);
    tiles::attend(rows, scale, head, c.masked ? o.mask.data() + r0 * c.keys : nullptr, c.keys, 1,
                  out.data() + r0 * ldo, ldo, scratch);
  }

  const bool rounded = kind == Kind::bf16;
  double largest_v = 0;
  for (float x : o.v) largest_v = std::max(largest_v, double(std::fabs(x)));
  const double tolerance = rounded ? 6e-3 * largest_v : 2e-5 * largest_v;
  for (int64_t r = 0; r < c.rows; ++r) {
    std::vector<double> s(static_cast<std::size_t>(c.keys));
    double top = -std::numeric_limits<double>::infinity(), sum = 0;
    for (int64_t j = 0; j < c.keys; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < c.depth; ++d)
        dot += double(round_if(rounded, scale * o.q[r * qd + o.head * c.depth + d])) *
               round_if(rounded, o.k[j * qd + o.head * c.depth + d]);
      s[j] = dot + (c.masked ? o.mask[r * c.keys + j] : 0.0);
      top = std::max(top, s[j]);
    }
    for (auto& e : s) sum += (e = std::exp(e - top));
    for (int64_t col = 0; col < c.value_cols; ++col) {
      if (std::isinf(top)) {  // every key masked: 0/0 by the definition
        ASSERT_TRUE(std::isnan(out[r * ldo + col])) << "row " << r << " has no unmasked key";
        continue;
      }
      double want = 0;
      for (int64_t j = 0; j < c.keys; ++j)
        want += s[j] / sum * round_if(rounded, o.v[j * vd + o.head * c.value_cols + col]);
      ASSERT_NEAR(out[r * ldo + col], want, tolerance)
          << "row " << r << ", column " << col << " of " << c.rows << "x" << c.depth << " keys "
          << c.keys << " value columns " << c.value_cols;
    }
    for (int64_t col = c.value_cols; col < ldo; ++col)
      ASSERT_EQ(out[r * ldo + col], -7.f) << "wrote past the row's " << c.value_cols << " columns";
  }
}

// Shapes of SD 1.5's heads (40, 80, 160 wide; 4096 and 77 keys) cut down, and odd ones: depth
// and key counts that fill no whole pair, vector or chunk of keys, rows that fill no whole
// register tile or vector of query rows, blocks of one to four vectors of query rows.
const Case kCases[] = {
    {1, 1, 1, 1, false},       {7, 40, 77, 40, true},    {32, 64, 300, 64, false},
    {13, 5, 33, 17, true},     {32, 80, 256, 80, false}, {9, 160, 48, 160, true},
    {32, 40, 1024, 40, false}, {3, 3, 2, 70, true},      {64, 40, 1000, 40, true},
    {50, 64, 257, 64, false},  {64, 80, 129, 80, true},  {47, 8, 385, 3, true},
};

void check_all(Kind kind) {
  if (!tiles::available(kind))
    GTEST_SKIP() << "this CPU (or ONEDNN_MAX_CPU_ISA / SINTER_CPU_VEC_ISA) runs no "
                 << (kind == Kind::f32 ? "AVX-512 or AVX2" : "AVX512_BF16") << " tiles";
  for (const Case& c : kCases) {
    check(kind, c);
    if (testing::Test::HasFatalFailure()) return;
  }
}

// Masks that stress the online softmax, which takes the keys a chunk at a time: maxima that
// grow chunk after chunk (earlier sums and results rescaled), leading keys masked over more
// than a chunk (left padding: the running maximum -inf for a while), and rows with every key
// masked (NaN, as the definition's 0/0).
float growing(int64_t r, int64_t j) {
  return 0.03f * static_cast<float>(j) - 0.5f * static_cast<float>(r % 3);
}
float leading_keys_masked(int64_t r, int64_t j) {
  return j < 300 + r ? -std::numeric_limits<float>::infinity() : 0.f;
}
float some_rows_masked(int64_t r, int64_t) {
  return r % 5 == 2 ? -std::numeric_limits<float>::infinity() : 0.f;
}

void check_masks(Kind kind) {
  if (!tiles::available(kind)) GTEST_SKIP() << "this CPU runs no tiles of this kind";
  for (auto* mask_of : {growing, leading_keys_masked, some_rows_masked}) {
    check(kind, {64, 40, 700, 40, true}, mask_of);
    check(kind, {21, 16, 333, 24, true}, mask_of);
    if (testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace

TEST(AttentionTiles, F32MatchesTheDefinition) {
  check_all(Kind::f32);
}

TEST(AttentionTiles, Bf16MatchesTheDefinitionOnRoundedOperands) {
  check_all(Kind::bf16);
}

TEST(AttentionTiles, F32OnlineSoftmaxMatchesTheDefinitionUnderMasks) {
  check_masks(Kind::f32);
}

TEST(AttentionTiles, Bf16OnlineSoftmaxMatchesTheDefinitionUnderMasks) {
  check_masks(Kind::bf16);
}

// One PackedHead and BlockScratch reused for heads of other sizes, as a thread does.
TEST(AttentionTiles, BuffersReusedAcrossShapes) {
  if (!tiles::available(Kind::f32)) GTEST_SKIP() << "this CPU runs no f32 tiles";
  tiles::PackedHead head;
  tiles::BlockScratch scratch;
  for (const Case& c : {Case{24, 80, 512, 80, false}, Case{5, 8, 20, 8, true}}) {
    const Operands o = make_operands(c, 5);
    const int64_t qd = o.heads * c.depth, vd = o.heads * c.value_cols;
    tiles::pack_head(Kind::f32, {o.k.data(), c.depth, c.keys, 1, qd},
                     {o.v.data(), c.keys, c.value_cols, vd, 1}, head);
    std::vector<float> out(static_cast<std::size_t>(c.rows * c.value_cols));
    tiles::attend({o.q.data(), c.rows, c.depth, qd, 1}, 1.f, head, nullptr, 0, 0, out.data(),
                  c.value_cols, scratch);
    // Row 0 against the definition (scale 1, no mask).
    std::vector<double> s(static_cast<std::size_t>(c.keys));
    double top = -1e300, sum = 0;
    for (int64_t j = 0; j < c.keys; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < c.depth; ++d) dot += double(o.q[d]) * o.k[j * qd + d];
      top = std::max(top, s[j] = dot);
    }
    for (auto& e : s) sum += (e = std::exp(e - top));
    for (int64_t col = 0; col < c.value_cols; ++col) {
      double want = 0;
      for (int64_t j = 0; j < c.keys; ++j) want += s[j] / sum * o.v[j * vd + col];
      ASSERT_NEAR(out[col], want, 4e-5) << c.depth << "x" << c.keys << " column " << col;
    }
  }
}

// Queries, keys and values whose rows are not side by side (Q read transposed, K stored [D, N],
// V read transposed) take the scalar packing; side by side, the vector packing. Both round each
// float to bf16 alike: the results agree bit for bit.
TEST(AttentionTiles, Bf16PackingAgreesAcrossLayouts) {
  if (!tiles::available(Kind::bf16)) GTEST_SKIP() << "this CPU runs no bf16 tiles";
  for (const Case& c : {Case{64, 40, 333, 40, false}, Case{13, 5, 33, 17, true},
                        Case{32, 80, 130, 80, false}, Case{7, 1, 1, 1, false}}) {
    const Operands o = make_operands(c, 11);
    // Side by side: Q [rows, D], K [N, D], V [N, Dv]; apart: their transposes.
    std::vector<float> qt(o.q.size()), kt(o.k.size()), vt(o.v.size());
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t d = 0; d < c.depth; ++d) qt[d * c.rows + r] = o.q[r * c.depth + d];
    for (int64_t j = 0; j < c.keys; ++j)
      for (int64_t d = 0; d < c.depth; ++d) kt[d * c.keys + j] = o.k[j * c.depth + d];
    for (int64_t j = 0; j < c.keys; ++j)
      for (int64_t col = 0; col < c.value_cols; ++col)
        vt[col * c.keys + j] = o.v[j * c.value_cols + col];
    const float* mask = c.masked ? o.mask.data() : nullptr;
    auto run = [&](const tiles::Strided& q, const tiles::Strided& k, const tiles::Strided& v) {
      tiles::PackedHead head;
      tiles::BlockScratch scratch;
      tiles::pack_head(Kind::bf16, k, v, head);
      std::vector<float> out(static_cast<std::size_t>(c.rows * c.value_cols));
      const int64_t block = tiles::max_block_rows();
      for (int64_t r0 = 0; r0 < c.rows; r0 += block) {
        tiles::Strided rows = q;
        rows.data += r0 * q.row_stride;
        rows.rows = std::min(block, c.rows - r0);
        tiles::attend(rows, 0.3f, head, mask ? mask + r0 * c.keys : nullptr, c.keys, 1,
                      out.data() + r0 * c.value_cols, c.value_cols, scratch);
      }
      return out;
    };
    const auto side_by_side =
        run({o.q.data(), c.rows, c.depth, c.depth, 1}, {o.k.data(), c.depth, c.keys, 1, c.depth},
            {o.v.data(), c.keys, c.value_cols, c.value_cols, 1});
    const auto apart =
        run({qt.data(), c.rows, c.depth, 1, c.rows}, {kt.data(), c.depth, c.keys, c.keys, 1},
            {vt.data(), c.keys, c.value_cols, 1, c.keys});
    for (std::size_t i = 0; i < side_by_side.size(); ++i)
      ASSERT_EQ(side_by_side[i], apart[i])
          << c.rows << "x" << c.depth << " keys " << c.keys << " at " << i;
  }
}
