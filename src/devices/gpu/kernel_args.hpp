// Host mirrors of the structs that kernels/*.cl take by value. Only 8-byte fields (and 4-byte
// floats in pairs) so that host and device lay them out identically; static_asserts pin sizes.
#pragma once

#include <cstdint>

#include "sinter/tensor.hpp"

namespace sinter::gpu {

inline constexpr int kMaxRank = 8;

// An N-d walk over output coordinates (kernels/common.cl).
struct Walk {
  int64_t rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t stride0[kMaxRank] = {};
  int64_t stride1[kMaxRank] = {};
  int64_t stride2[kMaxRank] = {};
  int64_t offset0 = 0, offset1 = 0, offset2 = 0;
};
static_assert(sizeof(Walk) == 8 * (1 + 4 * kMaxRank + 3));

// Window ops over up to 3 spatial dims (kernels/conv.cl); fewer dims have extent 1.
struct ConvArgs {
  int64_t n, c, d, h, w;
  int64_t oc, od, oh, ow;
  int64_t kd, kh, kw;
  int64_t sd, sh, sw;
  int64_t pd, ph, pw;
  int64_t ped, peh, pew;
  int64_t dd, dh, dw;
  int64_t group, has_bias;
};
static_assert(sizeof(ConvArgs) == 8 * 26);

struct ResizeArgs {
  int64_t h, w, oh, ow;
  float scale_h, scale_w, shift_out_h, shift_out_w, shift_in_h, shift_in_w;
  int64_t linear, nearest_mode;
};
static_assert(sizeof(ResizeArgs) == 8 * 4 + 4 * 6 + 8 * 2);

// Row-major element strides of `shape`.
Shape row_major_strides(const Shape& shape);

// Strides that broadcast an operand of `shape` to `out` (0 on broadcast dims), right-aligned.
// Shapes that do not broadcast are an invalid_argument error.
Shape broadcast_strides(const Shape& shape, const Shape& out);

// A walk over `out` with up to three operands' strides.
Walk make_walk(const Shape& out, const Shape& s0 = {}, const Shape& s1 = {}, const Shape& s2 = {});

}  // namespace sinter::gpu
