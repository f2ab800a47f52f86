// Data movement, generic over the element size (1, 2, 4 or 8 bytes; 2 is half-stored floats):
// Transpose, Slice, Expand, Concat and Split are all one strided copy;
// Pad, Tile, Gather, GatherND and Trilu have their own.

// out[walk(stride1, offset1)] = in[walk(stride0, offset0)] over the walk's dims.
#define COPY_STRIDED(NAME, T)                                                      \
  __kernel void NAME(Walk w, __global const T* x, __global T* y, long n) {         \
    const long i = get_global_id(0);                                               \
    if (i >= n) return;                                                            \
    y[walk_offset(&w, i, w.stride1, w.offset1)] = x[walk_offset(&w, i, w.stride0, w.offset0)]; \
  }
COPY_STRIDED(copy_strided_1, uchar)
COPY_STRIDED(copy_strided_2, ushort)
COPY_STRIDED(copy_strided_4, uint)
COPY_STRIDED(copy_strided_8, ulong)

// Pad: w.dims are the output dims, stride0 the input's strides, stride1 the input's dims,
// stride2 the leading pads. mode 0: constant `value`; 1: reflect; 2: edge; 3: wrap.
__kernel void pad_f32(Walk w, __global const real_t* x, __global real_t* y, int mode, float value,
                      long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  long rest = i, off = 0;
  bool inside = true;
  for (long d = w.rank - 1; d >= 0; --d) {
    long c = rest % w.dims[d] - w.stride2[d];
    const long len = w.stride1[d];
    rest /= w.dims[d];
    if (c < 0 || c >= len) {
      if (mode == 0) {
        inside = false;
      } else if (mode == 1) {  // mirror without repeating the edge: period 2 * (len - 1)
        const long period = max(2 * (len - 1), (long)1);
        c = ((c % period) + period) % period;
        if (c >= len) c = period - c;
      } else if (mode == 2) {
        c = c < 0 ? 0 : len - 1;
      } else {
        c = ((c % len) + len) % len;
      }
    }
    off += c * w.stride0[d];
  }
  STORE(y, i, inside ? LOAD(x, off) : value);
}

// CumSum along an axis: x seen as [outer, len, inner]; one work item per (outer, inner) line.
__kernel void cumsum_f32(__global const real_t* x, __global real_t* y, long len, long inner,
                         int exclusive, int reverse, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const long base = (i / inner) * len * inner + i % inner;
  float acc = 0.0f;
  for (long j = 0; j < len; ++j) {
    const long at = base + (reverse ? len - 1 - j : j) * inner;
    const float v = LOAD(x, at);
    if (exclusive) {
      STORE(y, at, acc);
      acc += v;
    } else {
      acc += v;
      STORE(y, at, acc);
    }
  }
}

// Tile: w.dims are the output dims, stride0 the input's strides, stride1 the input's dims.
#define TILE_KERNEL(NAME, T)                                                      \
  __kernel void NAME(Walk w, __global const T* x, __global T* y, long n) { \
    const long i = get_global_id(0);                                       \
    if (i >= n) return;                                                    \
    long rest = i, off = 0;                                                \
    for (long d = w.rank - 1; d >= 0; --d) {                               \
      off += (rest % w.dims[d]) % w.stride1[d] * w.stride0[d];             \
      rest /= w.dims[d];                                                   \
    }                                                                      \
    y[i] = x[off];                                                         \
  }
TILE_KERNEL(tile_1, uchar)
TILE_KERNEL(tile_2, ushort)
TILE_KERNEL(tile_4, uint)
TILE_KERNEL(tile_8, ulong)

// Gather along one axis: the data seen as [outer, axis_len, inner], indices flat (count), of
// type I (long, or int as exporters often write them).
#define GATHER(NAME, T, I)                                                               \
  __kernel void NAME(__global const T* x, __global const I* indices, __global T* y,      \
                     long count, long axis_len, long inner, long n) {                    \
    const long i = get_global_id(0);                                                     \
    if (i >= n) return;                                                                  \
    const long in = i % inner, k = (i / inner) % count, out = i / (inner * count);       \
    long idx = indices[k];                                                               \
    if (idx < 0) idx += axis_len;                                                        \
    y[i] = idx >= 0 && idx < axis_len ? x[(out * axis_len + idx) * inner + in] : (T)0;   \
  }
GATHER(gather_1, uchar, long)
GATHER(gather_2, ushort, long)
GATHER(gather_4, uint, long)
GATHER(gather_8, ulong, long)
GATHER(gather_1_i32, uchar, int)
GATHER(gather_2_i32, ushort, int)
GATHER(gather_4_i32, uint, int)
GATHER(gather_8_i32, ulong, int)

// GatherND (batch_dims = b): indices [..., depth]; each index tuple selects a slice of `slice`
// elements. w.dims[0..depth) are the data dims addressed, w.stride0 their strides (in elements);
// `batch_span` is how many data elements one batch entry spans, `per_batch` index tuples per
// batch entry.
#define GATHER_ND(NAME, T, I)                                                               \
  __kernel void NAME(Walk w, __global const T* x, __global const I* indices,                \
                     __global T* y, long depth, long slice, long batch_span, long per_batch, \
                     long n) {                                                              \
    const long i = get_global_id(0);                                                        \
    if (i >= n) return;                                                                     \
    const long tuple = i / slice, within = i % slice;                                       \
    long off = (tuple / per_batch) * batch_span;                                            \
    for (long d = 0; d < depth; ++d) {                                                      \
      long idx = indices[tuple * depth + d];                                                \
      if (idx < 0) idx += w.dims[d];                                                        \
      off += idx * w.stride0[d];                                                            \
    }                                                                                       \
    y[i] = x[off + within];                                                                 \
  }
GATHER_ND(gather_nd_1, uchar, long)
GATHER_ND(gather_nd_2, ushort, long)
GATHER_ND(gather_nd_4, uint, long)
GATHER_ND(gather_nd_8, ulong, long)
GATHER_ND(gather_nd_1_i32, uchar, int)
GATHER_ND(gather_nd_2_i32, ushort, int)
GATHER_ND(gather_nd_4_i32, uint, int)
GATHER_ND(gather_nd_8_i32, ulong, int)

// Trilu over the last two dims [rows, cols]: keep j - i >= k (upper) or j - i <= k (lower).
__kernel void trilu_f32(__global const real_t* x, __global real_t* y, long rows, long cols, long k,
                        int upper, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const long c = i % cols, r = (i / cols) % rows;
  const bool keep = upper ? (c - r >= k) : (c - r <= k);
  STORE(y, i, keep ? LOAD(x, i) : 0.0f);
}
