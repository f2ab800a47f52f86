// Convolution, transposed convolution and pooling over 1, 2 or 3 spatial dims (fewer dims run
// with extent 1), NC[D]HW, any group, stride, dilation and padding.
typedef struct {
  long n, c, d, h, w;   // input
  long oc, od, oh, ow;  // output channels and size
  long kd, kh, kw;      // window
  long sd, sh, sw;      // strides
  long pd, ph, pw;      // leading pads
  long ped, peh, pew;   // trailing pads
  long dd, dh, dw;      // dilations
  long group, has_bias;
} ConvArgs;

// Output element i as (n, channel, z, y, x).
#define SPLIT_OUTPUT(p, i)                                                       \
  const long ox = (i) % (p).ow, oy = ((i) / (p).ow) % (p).oh,                    \
             oz = ((i) / ((p).ow * (p).oh)) % (p).od,                            \
             oc = ((i) / ((p).ow * (p).oh * (p).od)) % (p).oc,                   \
             n = (i) / ((p).ow * (p).oh * (p).od * (p).oc)

// Direct convolution: one work item per output element (depthwise and thin groups).
__kernel void conv_f32(ConvArgs p, __global const real_t* x, __global const real_t* wt,
                       __global const real_t* bias, __global real_t* y, long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  SPLIT_OUTPUT(p, i);
  const long icg = p.c / p.group, ocg = p.oc / p.group, g = oc / ocg;
  const long vol = p.d * p.h * p.w;
  float acc = p.has_bias ? LOAD(bias, oc) : 0.0f;
  for (long ic = 0; ic < icg; ++ic) {
    const long xin = (n * p.c + g * icg + ic) * vol;
    const long wk = (oc * icg + ic) * p.kd * p.kh * p.kw;
    for (long kz = 0; kz < p.kd; ++kz) {
      const long iz = oz * p.sd - p.pd + kz * p.dd;
      if (iz < 0 || iz >= p.d) continue;
      for (long ky = 0; ky < p.kh; ++ky) {
        const long iy = oy * p.sh - p.ph + ky * p.dh;
        if (iy < 0 || iy >= p.h) continue;
        for (long kx = 0; kx < p.kw; ++kx) {
          const long ix = ox * p.sw - p.pw + kx * p.dw;
          if (ix < 0 || ix >= p.w) continue;
          acc += LOAD(x, xin + (iz * p.h + iy) * p.w + ix) *
                 LOAD(wt, wk + (kz * p.kh + ky) * p.kw + kx);
        }
      }
    }
  }
  STORE(y, i, acc);
}

// ConvTranspose: weights [C, OC/group, k...]; output position o gathers every input position
// whose window tap lands on it: o = in * stride - pad + k * dilation.
__kernel void conv_transpose_f32(ConvArgs p, __global const real_t* x, __global const real_t* wt,
                                 __global const real_t* bias, __global real_t* y, long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  SPLIT_OUTPUT(p, i);
  const long icg = p.c / p.group, ocg = p.oc / p.group, g = oc / ocg, ocl = oc % ocg;
  float acc = p.has_bias ? LOAD(bias, oc) : 0.0f;
  for (long ic = 0; ic < icg; ++ic) {
    const long c = g * icg + ic;
    for (long kz = 0; kz < p.kd; ++kz) {
      const long tz = oz + p.pd - kz * p.dd;
      if (tz < 0 || tz % p.sd != 0 || tz / p.sd >= p.d) continue;
      for (long ky = 0; ky < p.kh; ++ky) {
        const long ty = oy + p.ph - ky * p.dh;
        if (ty < 0 || ty % p.sh != 0 || ty / p.sh >= p.h) continue;
        for (long kx = 0; kx < p.kw; ++kx) {
          const long tx = ox + p.pw - kx * p.dw;
          if (tx < 0 || tx % p.sw != 0 || tx / p.sw >= p.w) continue;
          acc += LOAD(x, (((n * p.c + c) * p.d + tz / p.sd) * p.h + ty / p.sh) * p.w + tx / p.sw) *
                 LOAD(wt, (((c * ocg + ocl) * p.kd + kz) * p.kh + ky) * p.kw + kx);
        }
      }
    }
  }
  STORE(y, i, acc);
}

// MaxPool / AveragePool (oc = c). kind 0: max, 1: average over the taps inside the input,
// 2: average counting pads (taps inside the padded input).
__kernel void pool_f32(ConvArgs p, int kind, __global const real_t* x, __global real_t* y,
                       long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  SPLIT_OUTPUT(p, i);
  const long xin = (n * p.c + oc) * p.d * p.h * p.w;
  float acc = kind == 0 ? -INFINITY : 0.0f;
  long count = 0;
  for (long kz = 0; kz < p.kd; ++kz) {
    const long iz = oz * p.sd - p.pd + kz * p.dd;
    for (long ky = 0; ky < p.kh; ++ky) {
      const long iy = oy * p.sh - p.ph + ky * p.dh;
      for (long kx = 0; kx < p.kw; ++kx) {
        const long ix = ox * p.sw - p.pw + kx * p.dw;
        const bool inside = iz >= 0 && iz < p.d && iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
        if (kind == 2 && iz >= -p.pd && iz < p.d + p.ped && iy >= -p.ph && iy < p.h + p.peh &&
            ix >= -p.pw && ix < p.w + p.pew)
          ++count;
        if (!inside) continue;
        const float v = LOAD(x, xin + (iz * p.h + iy) * p.w + ix);
        if (kind == 0) {
          acc = fmax(acc, v);
        } else {
          acc += v;
          if (kind == 1) ++count;
        }
      }
    }
  }
  STORE(y, i, kind == 0 ? acc : (count > 0 ? acc / (float)count : 0.0f));
}

// Convolution as an implicit matrix product per (image, group): weights [OC/g, C/g·taps] times
// the input's window columns [C/g·taps, output positions], gathered into 16×16 local tiles on
// the fly (no im2col buffer). Used when a group has enough output channels to fill the tiles.
#define CONV_TILE 16
__kernel __attribute__((reqd_work_group_size(CONV_TILE, CONV_TILE, 1))) void conv_gemm_f32(
    ConvArgs p, __global const real_t* x, __global const real_t* wt, __global const real_t* bias,
    __global real_t* y) {
  __local float tw[CONV_TILE][CONV_TILE + 1];
  __local float tx[CONV_TILE][CONV_TILE + 1];
  const long pos = get_global_id(0), row = get_global_id(1), z = get_global_id(2);
  const int lc = get_local_id(0), lr = get_local_id(1);
  const long n = z / p.group, g = z % p.group;
  const long icg = p.c / p.group, ocg = p.oc / p.group;
  const long taps = p.kd * p.kh * p.kw, K = icg * taps, P = p.od * p.oh * p.ow;
  const long oc = g * ocg + row;
  const long ox = pos % p.ow, oy = (pos / p.ow) % p.oh, oz = pos / (p.ow * p.oh);
  const long xg = (n * p.c + g * icg) * p.d * p.h * p.w;
  float acc = 0.0f;
  for (long k0 = 0; k0 < K; k0 += CONV_TILE) {
    const long kcol = k0 + lc;
    tw[lr][lc] = row < ocg && kcol < K ? LOAD(wt, oc * K + kcol) : 0.0f;
    const long k = k0 + lr;
    float v = 0.0f;
    if (k < K && pos < P) {
      const long ic = k / taps, t = k % taps;
      const long kz = t / (p.kh * p.kw), ky = (t / p.kw) % p.kh, kx = t % p.kw;
      const long iz = oz * p.sd - p.pd + kz * p.dd, iy = oy * p.sh - p.ph + ky * p.dh,
                 ix = ox * p.sw - p.pw + kx * p.dw;
      if (iz >= 0 && iz < p.d && iy >= 0 && iy < p.h && ix >= 0 && ix < p.w)
        v = LOAD(x, xg + ((ic * p.d + iz) * p.h + iy) * p.w + ix);
    }
    tx[lr][lc] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = 0; t < CONV_TILE; ++t) acc += tw[lr][t] * tx[t][lc];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (row < ocg && pos < P)
    STORE(y, (n * p.oc + oc) * P + pos, acc + (p.has_bias ? LOAD(bias, oc) : 0.0f));
}
