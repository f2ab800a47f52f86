// Shape arithmetic and small tensor helpers shared by CPU kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/cpu/op_context.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu {

// Row-major strides of a shape, in elements.
std::vector<int64_t> strides_of(const Shape& shape);
// NumPy-style broadcast of two shapes; an error naming the node when they do not broadcast.
Shape broadcast_shapes(const OpContext& ctx, const Shape& a, const Shape& b);
// Strides of `shape` seen through a broadcast to `out` (0 where a dimension is broadcast).
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out);
// Normalises a possibly negative axis into [0, rank); error when out of range.
int64_t normalize_axis(const OpContext& ctx, int64_t axis, int64_t rank);
// Reads a 0-D or 1-D integer tensor (i32/i64) as int64 values.
std::vector<int64_t> to_int64_vector(const OpContext& ctx, const Tensor& t);
// Reads a scalar of any numeric type as double.
double scalar_as_double(const OpContext& ctx, const Tensor& t);
// Converts a tensor to another element type (Cast semantics, strings excluded).
Tensor convert_tensor(const OpContext& ctx, const Tensor& t, ElementType to);
// The elements of a numeric tensor as doubles, and back: kernels that compute in double
// precision read and write through these.
std::vector<double> to_double_vector(const OpContext& ctx, const Tensor& t);
Tensor tensor_from_doubles(const OpContext& ctx, const std::vector<double>& values, Shape shape,
                           ElementType type);
// True for f16 and bf16 tensors. Kernels with an f32 fast path (oneDNN) run those through
// run_widened: inputs widened to f32, the kernel run, outputs rounded back (f32 accumulation).
bool is_half_float(const Tensor& t);
void run_widened(OpContext& ctx, Kernel kernel);
// A 1-D i64 tensor.
Tensor make_i64_tensor(const std::vector<int64_t>& values, Shape shape = {});
// Copies `t` into a new tensor with axes permuted: out.shape[i] = t.shape[perm[i]].
Tensor transpose_tensor(const OpContext& ctx, const Tensor& t, const std::vector<int64_t>& perm);

// Visits every multi-index of `shape` in row-major order, calling f(flat_index, offsets...) with
// the element offset of each strided operand. Used by broadcasting elementwise kernels.
template <typename F>
void for_each_index2(const Shape& shape, const std::vector<int64_t>& sa,
                     const std::vector<int64_t>& sb, F&& f) {
  const int64_t total = element_count(shape);
  const std::size_t rank = shape.size();
  if (total == 0) return;
  if (rank == 0) {
    f(0, 0, 0);
    return;
  }
  std::vector<int64_t> idx(rank, 0);
  int64_t oa = 0, ob = 0;
  const int64_t inner = shape[rank - 1];
  const int64_t ia = sa[rank - 1], ib = sb[rank - 1];
  for (int64_t flat = 0; flat < total; flat += inner) {
    for (int64_t k = 0; k < inner; ++k) f(flat + k, oa + k * ia, ob + k * ib);
    for (std::size_t d = rank - 1; d-- > 0;) {
      ++idx[d];
      oa += sa[d];
      ob += sb[d];
      if (idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace sinter::cpu

namespace sinter::cpu {

// Copies `count` elements from src[src_offset...] to dst[dst_offset...] (element offsets).
// Works for every element type, strings included. Both tensors must share the element type.
void copy_elements(Tensor& dst, int64_t dst_offset, const Tensor& src, int64_t src_offset,
                   int64_t count);

}  // namespace sinter::cpu
