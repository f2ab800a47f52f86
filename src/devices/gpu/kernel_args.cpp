#include "devices/gpu/kernel_args.hpp"

#include "base/errors.hpp"

namespace sinter::gpu {

Shape row_major_strides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

Shape broadcast_strides(const Shape& shape, const Shape& out) {
  // Kernels read through these strides without bounds checks: the shapes must really broadcast.
  bool ok = shape.size() <= out.size();
  for (std::size_t i = 0; ok && i < shape.size(); ++i) {
    const int64_t d = shape[i], o = out[out.size() - shape.size() + i];
    ok = d == o || d == 1;
  }
  SINTER_CHECK(ok, invalid_argument, "shape {} does not broadcast to {}", to_string(shape),
               to_string(out));
  const Shape own = row_major_strides(shape);
  Shape strides(out.size(), 0);
  const std::size_t lead = out.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i)
    strides[lead + i] = shape[i] == 1 && out[lead + i] != 1 ? 0 : own[i];
  return strides;
}

Walk make_walk(const Shape& out, const Shape& s0, const Shape& s1, const Shape& s2) {
  SINTER_CHECK(out.size() <= kMaxRank, unsupported_op,
               "the GPU device handles tensors of rank up to {}, not {}", kMaxRank, out.size());
  Walk w;
  w.rank = static_cast<int64_t>(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    w.dims[i] = out[i];
    if (i < s0.size()) w.stride0[i] = s0[i];
    if (i < s1.size()) w.stride1[i] = s1[i];
    if (i < s2.size()) w.stride2[i] = s2[i];
  }
  return w;
}

}  // namespace sinter::gpu
