// Direct 2-d convolution and transposed convolution (1-d runs as height 1), NCHW, any group,
// stride, dilation and padding: one work item per output element.
typedef struct {
  long n, c, h, w;        // input
  long oc, oh, ow;        // output channels and size
  long kh, kw;            // kernel
  long sh, sw, ph, pw, dh, dw;
  long group, has_bias;
} ConvArgs;

__kernel void conv2d_f32(ConvArgs p, __global const float* x, __global const float* wt,
                         __global const float* bias, __global float* y, long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  const long ox = i % p.ow, oy = (i / p.ow) % p.oh, oc = (i / (p.ow * p.oh)) % p.oc,
             n = i / (p.ow * p.oh * p.oc);
  const long icg = p.c / p.group, ocg = p.oc / p.group, g = oc / ocg;
  float acc = p.has_bias ? bias[oc] : 0.0f;
  for (long ic = 0; ic < icg; ++ic) {
    __global const float* xin = x + ((n * p.c + g * icg + ic) * p.h) * p.w;
    __global const float* wk = wt + ((oc * icg + ic) * p.kh) * p.kw;
    for (long ky = 0; ky < p.kh; ++ky) {
      const long iy = oy * p.sh - p.ph + ky * p.dh;
      if (iy < 0 || iy >= p.h) continue;
      for (long kx = 0; kx < p.kw; ++kx) {
        const long ix = ox * p.sw - p.pw + kx * p.dw;
        if (ix < 0 || ix >= p.w) continue;
        acc += xin[iy * p.w + ix] * wk[ky * p.kw + kx];
      }
    }
  }
  y[i] = acc;
}

// ConvTranspose: weights [C, OC/group, kh, kw]; output pixel (oy, ox) gathers every input pixel
// whose window tap lands on it: oy = iy * sh - ph + ky * dh.
__kernel void conv_transpose2d_f32(ConvArgs p, __global const float* x, __global const float* wt,
                                   __global const float* bias, __global float* y, long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  const long ox = i % p.ow, oy = (i / p.ow) % p.oh, oc = (i / (p.ow * p.oh)) % p.oc,
             n = i / (p.ow * p.oh * p.oc);
  const long icg = p.c / p.group, ocg = p.oc / p.group, g = oc / ocg, ocl = oc % ocg;
  float acc = p.has_bias ? bias[oc] : 0.0f;
  for (long ic = 0; ic < icg; ++ic) {
    const long c = g * icg + ic;
    for (long ky = 0; ky < p.kh; ++ky) {
      const long ty = oy + p.ph - ky * p.dh;
      if (ty < 0 || ty % p.sh != 0 || ty / p.sh >= p.h) continue;
      for (long kx = 0; kx < p.kw; ++kx) {
        const long tx = ox + p.pw - kx * p.dw;
        if (tx < 0 || tx % p.sw != 0 || tx / p.sw >= p.w) continue;
        acc += x[((n * p.c + c) * p.h + ty / p.sh) * p.w + tx / p.sw] *
               wt[((c * ocg + ocl) * p.kh + ky) * p.kw + kx];
      }
    }
  }
  y[i] = acc;
}

// MaxPool / AveragePool over 2-d windows (same ConvArgs; oc = c). kind 0: max, 1: average
// excluding pads, 2: average including pads.
__kernel void pool2d_f32(ConvArgs p, int kind, __global const float* x, __global float* y,
                         long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  const long ox = i % p.ow, oy = (i / p.ow) % p.oh, nc = i / (p.ow * p.oh);
  __global const float* xin = x + nc * p.h * p.w;
  float acc = kind == 0 ? -INFINITY : 0.0f;
  long count = 0;
  for (long ky = 0; ky < p.kh; ++ky) {
    const long iy = oy * p.sh - p.ph + ky * p.dh;
    for (long kx = 0; kx < p.kw; ++kx) {
      const long ix = ox * p.sw - p.pw + kx * p.dw;
      const bool inside = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
      // Including pads counts taps inside the padded input, not beyond it (ceil_mode windows).
      if (kind == 2 && iy < p.h + p.ph && ix < p.w + p.pw && iy >= -p.ph && ix >= -p.pw) ++count;
      if (!inside) continue;
      const float v = xin[iy * p.w + ix];
      if (kind == 0) {
        acc = fmax(acc, v);
      } else {
        acc += v;
        if (kind == 1) ++count;
      }
    }
  }
  y[i] = kind == 0 ? acc : (count > 0 ? acc / (float)count : 0.0f);
}

// Convolution as an implicit matrix product per (image, group): weights [OC/g, C/g·kh·kw] times
// the input's window columns [C/g·kh·kw, oh·ow], gathered into 16×16 local tiles on the fly (no
// im2col buffer). Used when a group has enough output channels to fill the tiles.
#define CONV_TILE 16
__kernel __attribute__((reqd_work_group_size(CONV_TILE, CONV_TILE, 1))) void conv2d_gemm_f32(
    ConvArgs p, __global const float* x, __global const float* wt, __global const float* bias,
    __global float* y) {
  __local float tw[CONV_TILE][CONV_TILE + 1];
  __local float tx[CONV_TILE][CONV_TILE + 1];
  const long pixel = get_global_id(0), row = get_global_id(1), z = get_global_id(2);
  const int lc = get_local_id(0), lr = get_local_id(1);
  const long n = z / p.group, g = z % p.group;
  const long icg = p.c / p.group, ocg = p.oc / p.group;
  const long taps = p.kh * p.kw, K = icg * taps, P = p.oh * p.ow;
  const long oc = g * ocg + row;
  const long oy = pixel / p.ow, ox = pixel % p.ow;
  __global const float* xg = x + (n * p.c + g * icg) * p.h * p.w;
  float acc = 0.0f;
  for (long k0 = 0; k0 < K; k0 += CONV_TILE) {
    const long kw_col = k0 + lc;
    tw[lr][lc] = row < ocg && kw_col < K ? wt[oc * K + kw_col] : 0.0f;
    const long k = k0 + lr;
    float v = 0.0f;
    if (k < K && pixel < P) {
      const long ic = k / taps, t = k % taps, ky = t / p.kw, kx = t % p.kw;
      const long iy = oy * p.sh - p.ph + ky * p.dh, ix = ox * p.sw - p.pw + kx * p.dw;
      if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w) v = xg[(ic * p.h + iy) * p.w + ix];
    }
    tx[lr][lc] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = 0; t < CONV_TILE; ++t) acc += tw[lr][t] * tx[t][lc];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (row < ocg && pixel < P) y[(n * p.oc + oc) * P + pixel] = acc + (p.has_bias ? bias[oc] : 0.0f);
}
