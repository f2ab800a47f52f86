// Normalisation, softmax and reductions. Row kernels use one work group of ROW_GROUP items per
// row and reduce in local memory.
#define ROW_GROUP 64

// Sum of `v` over the work group.
inline float group_sum(float v, __local float* scratch) {
  const int l = get_local_id(0);
  scratch[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = ROW_GROUP / 2; s > 0; s >>= 1) {
    if (l < s) scratch[l] += scratch[l + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float r = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

inline float group_max(float v, __local float* scratch) {
  const int l = get_local_id(0);
  scratch[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = ROW_GROUP / 2; s > 0; s >>= 1) {
    if (l < s) scratch[l] = fmax(scratch[l], scratch[l + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float r = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

// y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c], x seen as [n, c, inner].
__kernel void batchnorm_f32(__global const real_t* x, __global const real_t* scale,
                            __global const real_t* bias, __global const real_t* mean,
                            __global const real_t* var, __global real_t* y, long c, long inner,
                            float eps, long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  const long ch = (i / inner) % c;
  STORE(y, i,
        (LOAD(x, i) - LOAD(mean, ch)) * rsqrt(LOAD(var, ch) + eps) * LOAD(scale, ch) +
            LOAD(bias, ch));
}

// Normalises each row of `cols` elements (mean 0, variance 1), then applies scale and bias;
// with has_stats, also writes each row's mean and 1 / standard deviation (LayerNormalization).
// LayerNorm: scale/bias index = col (param_div 1, param_mod cols). Instance/GroupNorm: rows are
// (n, group), index = (row % groups) * per_row + col / param_div.
__kernel __attribute__((reqd_work_group_size(ROW_GROUP, 1, 1))) void normalize_rows_f32(
    __global const real_t* x, __global const real_t* scale, __global const real_t* bias,
    __global real_t* y, long cols, float eps, long groups, long per_row, long param_div,
    int has_bias, __global real_t* mean_out, __global real_t* inv_out, int has_stats) {
  __local float scratch[ROW_GROUP];
  const long row = get_group_id(0);
  const int l = get_local_id(0);
  const long r0 = row * cols;
  float s = 0.0f;
  for (long j = l; j < cols; j += ROW_GROUP) s += LOAD(x, r0 + j);
  const float mean = group_sum(s, scratch) / (float)cols;
  float q = 0.0f;
  for (long j = l; j < cols; j += ROW_GROUP) {
    const float d = LOAD(x, r0 + j) - mean;
    q += d * d;
  }
  const float inv = rsqrt(group_sum(q, scratch) / (float)cols + eps);
  if (has_stats && l == 0) {
    STORE(mean_out, row, mean);
    STORE(inv_out, row, inv);
  }
  const long base = (row % groups) * per_row;
  for (long j = l; j < cols; j += ROW_GROUP) {
    const long p = base + j / param_div;
    const float b = has_bias ? LOAD(bias, p) : 0.0f;
    STORE(y, r0 + j, (LOAD(x, r0 + j) - mean) * inv * LOAD(scale, p) + b);
  }
}

// Softmax / LogSoftmax along an axis: x seen as [outer, len, inner]; one group per (outer, inner).
__kernel __attribute__((reqd_work_group_size(ROW_GROUP, 1, 1))) void softmax_f32(
    __global const real_t* x, __global real_t* y, long len, long inner, int log_softmax) {
  __local float scratch[ROW_GROUP];
  const long g = get_group_id(0), o = g / inner, in = g % inner;
  const int l = get_local_id(0);
  const long base = o * len * inner + in;
  float m = -INFINITY;
  for (long j = l; j < len; j += ROW_GROUP) m = fmax(m, LOAD(x, base + j * inner));
  m = group_max(m, scratch);
  float s = 0.0f;
  for (long j = l; j < len; j += ROW_GROUP) s += exp(LOAD(x, base + j * inner) - m);
  s = group_sum(s, scratch);
  for (long j = l; j < len; j += ROW_GROUP) {
    const float v = LOAD(x, base + j * inner) - m;
    STORE(y, base + j * inner, log_softmax ? v - log(s) : exp(v) / s);
  }
}

// Reductions: output element i starts at walk_offset(out, i, stride0) in x and visits every
// coordinate of `red` (its dims, with x's strides in stride0). op: 0 sum, 1 mean, 2 max, 3 min,
// 4 prod, 5 sum of squares, 6 L1, 7 L2, 8 log-sum, 9 log-sum-exp.
__kernel void reduce_f32(int op, Walk out, Walk red, __global const real_t* x, __global real_t* y,
                         long count, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const long base = walk_offset(&out, i, out.stride0, 0);
  float acc = op == 2 ? -INFINITY : (op == 3 ? INFINITY : (op == 4 ? 1.0f : 0.0f));
  float m = -INFINITY;
  if (op == 9)
    for (long k = 0; k < count; ++k)
      m = fmax(m, LOAD(x, base + walk_offset(&red, k, red.stride0, 0)));
  for (long k = 0; k < count; ++k) {
    const float v = LOAD(x, base + walk_offset(&red, k, red.stride0, 0));
    switch (op) {
      case 0: case 1: case 8: acc += v; break;
      case 2: acc = fmax(acc, v); break;
      case 3: acc = fmin(acc, v); break;
      case 4: acc *= v; break;
      case 5: case 7: acc += v * v; break;
      case 6: acc += fabs(v); break;
      case 9: acc += exp(v - m); break;
    }
  }
  if (op == 1) acc /= (float)count;
  if (op == 7) acc = sqrt(acc);
  if (op == 8) acc = log(acc);
  if (op == 9) acc = log(acc) + m;
  STORE(y, i, acc);
}

// ArgMax / ArgMin along an axis: x seen as [outer, len, inner]; ties keep the first index unless
// select_last. Values stored as T are read through LD as V.
#define ARG_REDUCE(NAME, T, V, LD)                                                              \
  __kernel void NAME(__global const T* x, __global long* y, long len, long inner, int is_min,   \
                     int select_last, long n) {                                                 \
    const long i = get_global_id(0);                                                            \
    if (i >= n) return;                                                                         \
    const long base = (i / inner) * len * inner + i % inner;                                    \
    long best = 0;                                                                              \
    V bv = LD(x, base);                                                                         \
    for (long j = 1; j < len; ++j) {                                                            \
      const V v = LD(x, base + j * inner);                                                      \
      const bool better =                                                                       \
          is_min ? (select_last ? v <= bv : v < bv) : (select_last ? v >= bv : v > bv);         \
      if (better) {                                                                             \
        bv = v;                                                                                 \
        best = j;                                                                               \
      }                                                                                         \
    }                                                                                           \
    y[i] = best;                                                                                \
  }
ARG_REDUCE(arg_reduce_f32, real_t, float, LOAD)
ARG_REDUCE(arg_reduce_i64, long, long, PLAIN_LOAD)
ARG_REDUCE(arg_reduce_i32, int, int, PLAIN_LOAD)
