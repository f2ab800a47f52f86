// Resize over the last two dims (NCHW), nearest or bilinear. The host passes per-axis
// transformation: in = (out + shift_out) / scale - shift_in, in coordinate-transformation modes
// that reduce to that form (half_pixel, asymmetric, align_corners, pytorch_half_pixel, ...).
// Dividing (not multiplying by 1 / scale) keeps ties such as 0.5 exact for nearest rounding.
// nearest_mode: 0 round_prefer_floor, 1 round_prefer_ceil, 2 floor, 3 ceil.
typedef struct {
  long h, w, oh, ow;
  float scale_h, scale_w, shift_out_h, shift_out_w, shift_in_h, shift_in_w;
  long linear, nearest_mode;
} ResizeArgs;

inline long nearest_index(float v, long mode, long size) {
  long r;
  if (mode == 0) r = (v - floor(v) == 0.5f) ? (long)floor(v) : (long)round(v);
  else if (mode == 1) r = (v - floor(v) == 0.5f) ? (long)ceil(v) : (long)round(v);
  else if (mode == 2) r = (long)floor(v);
  else r = (long)ceil(v);
  return clamp(r, (long)0, size - 1);
}

__kernel void resize2d_f32(ResizeArgs p, __global const real_t* x, __global real_t* y,
                           long total) {
  const long i = get_global_id(0);
  if (i >= total) return;
  const long ox = i % p.ow, oy = (i / p.ow) % p.oh, nc = i / (p.ow * p.oh);
  const long xin = nc * p.h * p.w;
  const float fy = ((float)oy + p.shift_out_h) / p.scale_h - p.shift_in_h;
  const float fx = ((float)ox + p.shift_out_w) / p.scale_w - p.shift_in_w;
  if (!p.linear) {
    STORE(y, i,
          LOAD(x, xin + nearest_index(fy, p.nearest_mode, p.h) * p.w +
                      nearest_index(fx, p.nearest_mode, p.w)));
    return;
  }
  const float cy = clamp(fy, 0.0f, (float)(p.h - 1)), cx = clamp(fx, 0.0f, (float)(p.w - 1));
  const long y0 = (long)floor(cy), x0 = (long)floor(cx);
  const long y1 = min(y0 + 1, p.h - 1), x1 = min(x0 + 1, p.w - 1);
  const float dy = cy - (float)y0, dx = cx - (float)x0;
  const float top = LOAD(x, xin + y0 * p.w + x0) * (1.0f - dx) + LOAD(x, xin + y0 * p.w + x1) * dx;
  const float bottom =
      LOAD(x, xin + y1 * p.w + x0) * (1.0f - dx) + LOAD(x, xin + y1 * p.w + x1) * dx;
  STORE(y, i, top * (1.0f - dy) + bottom * dy);
}
