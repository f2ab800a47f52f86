// Elementwise kernels: one work item per output element.

// Unary float ops; `op` numbers match UnaryOp in src/devices/gpu/ops_elementwise.cpp.
__kernel void unary_f32(int op, float alpha, float beta, __global const real_t* x,
                        __global real_t* y, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const float v = LOAD(x, i);
  float r;
  switch (op) {
    case 0: r = fmax(v, 0.0f); break;                                     // Relu
    case 1: r = 1.0f / (1.0f + exp(-v)); break;                           // Sigmoid
    case 2: r = tanh(v); break;                                           // Tanh
    case 3: r = exp(v); break;                                            // Exp
    case 4: r = log(v); break;                                            // Log
    case 5: r = sqrt(v); break;                                           // Sqrt
    case 6: r = -v; break;                                                // Neg
    case 7: r = fabs(v); break;                                           // Abs
    case 8: r = erf(v); break;                                            // Erf
    case 9: r = v * fmin(fmax(v / 6.0f + 0.5f, 0.0f), 1.0f); break;      // HardSwish
    case 10: r = fmin(fmax(alpha * v + beta, 0.0f), 1.0f); break;         // HardSigmoid
    case 11: r = v < 0.0f ? alpha * v : v; break;                         // LeakyRelu
    case 12: r = v < 0.0f ? alpha * (exp(v) - 1.0f) : v; break;          // Elu
    case 13: r = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f)); break;  // Gelu (erf)
    case 14: r = 0.5f * v * (1.0f + tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      break;                                                              // Gelu (tanh)
    case 15: r = v > 20.0f ? v : log1p(exp(v)); break;                    // Softplus
    case 16: r = fmin(fmax(v, alpha), beta); break;                       // Clip
    case 17: r = 1.0f / v; break;                                         // Reciprocal
    case 18: r = floor(v); break;                                         // Floor
    case 19: r = ceil(v); break;                                          // Ceil
    case 20: r = sin(v); break;                                           // Sin
    case 21: r = cos(v); break;                                           // Cos
    case 22: r = rint(v); break;                                          // Round (half to even)
    case 23: r = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); break;      // Sign
    case 24: r = v * (1.0f / (1.0f + exp(-v))); break;                    // Swish / SiLU
    case 25: r = v / (1.0f + fabs(v)); break;                             // Softsign
    case 26: r = v * tanh(v > 20.0f ? v : log1p(exp(v))); break;          // Mish
    case 27: r = v; break;                                                // Identity copy
    case 28: r = beta * (v > 0.0f ? v : alpha * (exp(v) - 1.0f)); break;  // Selu (alpha, gamma)
    case 29: r = fmax(0.0f, v) + fmin(0.0f, alpha * (exp(v / alpha) - 1.0f)); break;  // Celu
    default: r = NAN; break;
  }
  STORE(y, i, r);
}

// Binary float ops with broadcasting; operands walk with stride0 (a) and stride1 (b).
__kernel void binary_f32(int op, Walk w, __global const real_t* a, __global const real_t* b,
                         __global real_t* y, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const float u = LOAD(a, walk_offset(&w, i, w.stride0, w.offset0));
  const float v = LOAD(b, walk_offset(&w, i, w.stride1, w.offset1));
  float r;
  switch (op) {
    case 0: r = u + v; break;
    case 1: r = u - v; break;
    case 2: r = u * v; break;
    case 3: r = u / v; break;
    case 4: r = pow(u, v); break;
    case 5: r = fmax(u, v); break;
    case 6: r = fmin(u, v); break;
    case 7: r = u < 0.0f ? u * v : u; break;  // PRelu
    case 8: r = fmod(u, v); break;            // Mod with fmod=1
    default: r = NAN; break;
  }
  STORE(y, i, r);
}

__kernel void binary_i64(int op, Walk w, __global const long* a, __global const long* b,
                         __global long* y, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const long u = a[walk_offset(&w, i, w.stride0, w.offset0)];
  const long v = b[walk_offset(&w, i, w.stride1, w.offset1)];
  long r;
  switch (op) {
    case 0: r = u + v; break;
    case 1: r = u - v; break;
    case 2: r = u * v; break;
    case 3: r = v == 0 ? 0 : u / v; break;
    case 5: r = max(u, v); break;
    case 6: r = min(u, v); break;
    default: r = 0; break;
  }
  y[i] = r;
}

// Comparisons and logic to bool (uchar): operands stored as T, read through LD as V.
#define COMPARE(NAME, T, V, LD)                                                            \
  __kernel void NAME(int op, Walk w, __global const T* a, __global const T* b,             \
                     __global uchar* y, long n) {                                          \
    const long i = get_global_id(0);                                                       \
    if (i >= n) return;                                                                    \
    const V u = LD(a, walk_offset(&w, i, w.stride0, w.offset0));                           \
    const V v = LD(b, walk_offset(&w, i, w.stride1, w.offset1));                           \
    uchar r;                                                                               \
    switch (op) {                                                                          \
      case 0: r = u == v; break;                                                           \
      case 1: r = u < v; break;                                                            \
      case 2: r = u > v; break;                                                            \
      case 3: r = u <= v; break;                                                           \
      case 4: r = u >= v; break;                                                           \
      case 5: r = (u != 0) && (v != 0); break;                                             \
      case 6: r = (u != 0) || (v != 0); break;                                             \
      case 7: r = (u != 0) != (v != 0); break;                                             \
      default: r = 0; break;                                                               \
    }                                                                                      \
    y[i] = r;                                                                              \
  }
COMPARE(compare_f32, real_t, float, LOAD)
COMPARE(compare_i64, long, long, PLAIN_LOAD)
COMPARE(compare_u8, uchar, uchar, PLAIN_LOAD)

__kernel void not_u8(__global const uchar* x, __global uchar* y, long n) {
  const long i = get_global_id(0);
  if (i < n) y[i] = !x[i];
}

// Where(cond, x, y): cond walks with stride0, x with stride1, y with stride2; any element size
// (2: half-stored floats).
#define WHERE(NAME, T)                                                                    \
  __kernel void NAME(Walk w, __global const uchar* c, __global const T* x,                \
                     __global const T* y, __global T* out, long n) {                      \
    const long i = get_global_id(0);                                                      \
    if (i >= n) return;                                                                   \
    out[i] = c[walk_offset(&w, i, w.stride0, w.offset0)]                                  \
                 ? x[walk_offset(&w, i, w.stride1, w.offset1)]                            \
                 : y[walk_offset(&w, i, w.stride2, w.offset2)];                           \
  }
WHERE(where_1, uchar)
WHERE(where_2, ushort)
WHERE(where_4, uint)
WHERE(where_8, ulong)

// Casts between the element types the GPU device handles (f32, i32, i64, bool): FROM values
// are read through LD as V, TO values written through ST.
#define CAST(NAME, FROM, V, LD, TO, ST, EXPR)                                         \
  __kernel void NAME(__global const FROM* x, __global TO* y, long n) {                \
    const long i = get_global_id(0);                                                  \
    if (i < n) {                                                                      \
      const V v = LD(x, i);                                                           \
      ST(y, i, EXPR);                                                                 \
    }                                                                                 \
  }
CAST(cast_f32_i64, real_t, float, LOAD, long, PLAIN_STORE, (long)v)
CAST(cast_f32_i32, real_t, float, LOAD, int, PLAIN_STORE, (int)v)
CAST(cast_f32_u8, real_t, float, LOAD, uchar, PLAIN_STORE, v != 0.0f)
CAST(cast_i64_f32, long, long, PLAIN_LOAD, real_t, STORE, (float)v)
CAST(cast_i64_i32, long, long, PLAIN_LOAD, int, PLAIN_STORE, (int)v)
CAST(cast_i64_u8, long, long, PLAIN_LOAD, uchar, PLAIN_STORE, v != 0)
CAST(cast_i32_f32, int, int, PLAIN_LOAD, real_t, STORE, (float)v)
CAST(cast_i32_i64, int, int, PLAIN_LOAD, long, PLAIN_STORE, (long)v)
CAST(cast_i32_u8, int, int, PLAIN_LOAD, uchar, PLAIN_STORE, v != 0)
CAST(cast_u8_f32, uchar, uchar, PLAIN_LOAD, real_t, STORE, (float)v)
CAST(cast_u8_i64, uchar, uchar, PLAIN_LOAD, long, PLAIN_STORE, (long)v)
CAST(cast_u8_i32, uchar, uchar, PLAIN_LOAD, int, PLAIN_STORE, (int)v)
