// Resize (and the older Upsample): nearest, linear and cubic, every coordinate mode of ONNX.
#include <cmath>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

struct Tap {
  int64_t index;
  double weight;
};

struct ResizeParams {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double cubic_a = -0.75, extrapolation = 0;
  bool exclude_outside = false;
};

double cubic_weight(double s, double a) {
  s = std::fabs(s);
  if (s <= 1) return ((a + 2) * s - (a + 3)) * s * s + 1;
  if (s < 2) return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
  return 0;
}

// Per output index of one axis: the input taps and weights (empty = extrapolate).
std::vector<std::vector<Tap>> axis_taps(const ResizeParams& p, int64_t in, int64_t out,
                                        double scale, double roi_start, double roi_end) {
  std::vector<std::vector<Tap>> taps(out);
  for (int64_t j = 0; j < out; ++j) {
    double x;
    const double xo = static_cast<double>(j);
    if (p.coord == "half_pixel")
      x = (xo + 0.5) / scale - 0.5;
    else if (p.coord == "pytorch_half_pixel")
      x = out > 1 ? (xo + 0.5) / scale - 0.5 : 0;
    // The spec uses the unrounded output length (in * scale) here.
    else if (p.coord == "align_corners")
      x = out == 1 ? 0 : xo * (in - 1) / (in * scale - 1);
    else if (p.coord == "asymmetric")
      x = xo / scale;
    else if (p.coord == "tf_half_pixel_for_nn")
      x = (xo + 0.5) / scale;
    else {  // tf_crop_and_resize
      x = out > 1 ? roi_start * (in - 1) +
                        xo * (roi_end - roi_start) * (in - 1) / static_cast<double>(out - 1)
                  : 0.5 * (roi_start + roi_end) * (in - 1);
      if (x < 0 || x > in - 1) continue;  // outside: extrapolation_value
    }
    auto clamp = [&](int64_t i) { return std::min<int64_t>(std::max<int64_t>(i, 0), in - 1); };
    if (p.mode == "nearest") {
      int64_t i;
      if (p.nearest == "floor")
        i = static_cast<int64_t>(std::floor(x));
      else if (p.nearest == "ceil")
        i = static_cast<int64_t>(std::ceil(x));
      else if (p.nearest == "round_prefer_ceil")
        i = static_cast<int64_t>(std::floor(x + 0.5));
      else
        i = (x - std::floor(x) == 0.5) ? static_cast<int64_t>(std::floor(x))
                                       : static_cast<int64_t>(std::round(x));
      taps[j].push_back({clamp(i), 1.0});
    } else if (p.mode == "linear") {
      const double xc = std::min(std::max(x, 0.0), static_cast<double>(in - 1));
      const int64_t i0 = static_cast<int64_t>(std::floor(xc));
      const double f = xc - static_cast<double>(i0);
      taps[j].push_back({clamp(i0), 1 - f});
      if (f > 0) taps[j].push_back({clamp(i0 + 1), f});
    } else {  // cubic
      const int64_t i0 = static_cast<int64_t>(std::floor(x));
      const double f = x - static_cast<double>(i0);
      double total = 0;
      for (int64_t k = -1; k <= 2; ++k) {
        const int64_t i = i0 + k;
        double w = cubic_weight(f - static_cast<double>(k), p.cubic_a);
        if (p.exclude_outside && (i < 0 || i >= in)) w = 0;
        taps[j].push_back({clamp(i), w});
        total += w;
      }
      if (p.exclude_outside && total != 0) {
        for (auto& t : taps[j]) t.weight /= total;
      }
    }
  }
  return taps;
}

// When every output element reads exactly one input element (nearest mode, nothing outside the
// input), the resize is a gather with one offset table per axis: rows of the last axis are
// filled from precomputed offsets instead of walking taps element by element.
bool nearest_copy(OpContext& ctx, const Tensor& x,
                  const std::vector<std::vector<std::vector<Tap>>>& taps,
                  const std::vector<int64_t>& in_st, Tensor& out) {
  const int64_t rank = x.rank();
  std::vector<std::vector<int64_t>> offsets(rank);
  for (int64_t d = 0; d < rank; ++d) {
    for (const auto& t : taps[d]) {
      if (t.size() != 1 || t[0].weight != 1.0) return false;
      offsets[d].push_back(t[0].index * in_st[d]);
    }
  }
  const Shape& shape = out.shape();
  const int64_t width = shape[rank - 1], rows = out.element_count() / width;
  const auto& last = offsets[rank - 1];
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
#pragma omp parallel for if (rows > 16)
    for (int64_t row = 0; row < rows; ++row) {
      int64_t base = 0, rem = row;
      for (int64_t d = rank - 2; d >= 0; --d) {
        base += offsets[d][rem % shape[d]];
        rem /= shape[d];
      }
      T* out_row = dst + row * width;
      for (int64_t i = 0; i < width; ++i) out_row[i] = src[base + last[i]];
    }
  });
  return true;
}

void resize(OpContext& ctx, const Tensor& x, std::vector<double> scales, Shape out_shape,
            const std::vector<double>& roi, const ResizeParams& p) {
  const int64_t rank = x.rank();
  std::vector<std::vector<std::vector<Tap>>> taps(rank);
  for (int64_t d = 0; d < rank; ++d) {
    const double rs = roi.size() == static_cast<std::size_t>(2 * rank) ? roi[d] : 0.0;
    const double re = roi.size() == static_cast<std::size_t>(2 * rank) ? roi[rank + d] : 1.0;
    taps[d] = axis_taps(p, x.shape()[d], out_shape[d], scales[d], rs, re);
  }
  Tensor out(x.element_type(), out_shape);
  const auto in_st = strides_of(x.shape());
  const auto out_st = strides_of(out_shape);
  if (rank > 0 && out.element_count() > 0 && nearest_copy(ctx, x, taps, in_st, out)) {
    ctx.set_output(0, out);
    return;
  }
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
#pragma omp parallel for
    for (int64_t i = 0; i < out.element_count(); ++i) {
      std::vector<const std::vector<Tap>*> t(rank);
      int64_t rem = i;
      bool outside = false;
      for (int64_t d = 0; d < rank; ++d) {
        t[d] = &taps[d][rem / out_st[d]];
        rem %= out_st[d];
        if (t[d]->empty()) outside = true;
      }
      double acc = 0;
      if (outside) {
        acc = p.extrapolation;
      } else {
        // Sum over the product of per-axis taps.
        std::vector<std::size_t> k(rank, 0);
        while (true) {
          double w = 1;
          int64_t off = 0;
          for (int64_t d = 0; d < rank; ++d) {
            w *= (*t[d])[k[d]].weight;
            off += (*t[d])[k[d]].index * in_st[d];
          }
          acc += w * static_cast<double>(static_cast<compute_t<T>>(src[off]));
          int64_t d = rank - 1;
          while (d >= 0 && ++k[d] == t[d]->size()) k[d--] = 0;
          if (d < 0) break;
        }
      }
      if constexpr (std::is_integral_v<T>) acc = std::round(acc);
      dst[i] = static_cast<T>(static_cast<compute_t<T>>(acc));
    }
  });
  ctx.set_output(0, out);
}

void op_resize(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ResizeParams p;
  p.mode = ctx.attr_s("mode", "nearest");
  ctx.check(p.mode == "nearest" || p.mode == "linear" || p.mode == "cubic", "unknown mode '{}'",
            p.mode);
  std::vector<double> roi, scales;
  Shape sizes;
  if (ctx.opset() < 11) {
    p.coord = "asymmetric";
    p.nearest = "floor";
    const Tensor sd = convert_tensor(ctx, ctx.input(1), ElementType::f64);
    scales.assign(sd.data_as<double>(), sd.data_as<double>() + sd.element_count());
  } else {
    p.coord = ctx.attr_s("coordinate_transformation_mode", "half_pixel");
    p.nearest = ctx.attr_s("nearest_mode", "round_prefer_floor");
    p.cubic_a = ctx.attr_f("cubic_coeff_a", -0.75f);
    p.exclude_outside = ctx.attr_i("exclude_outside", 0) != 0;
    p.extrapolation = ctx.attr_f("extrapolation_value", 0.f);
    if (const Tensor* r = ctx.optional_input(1); r && r->element_count()) {
      const Tensor rd = convert_tensor(ctx, *r, ElementType::f64);
      roi.assign(rd.data_as<double>(), rd.data_as<double>() + rd.element_count());
    }
    if (const Tensor* s = ctx.optional_input(2); s && s->element_count()) {
      const Tensor sd = convert_tensor(ctx, *s, ElementType::f64);
      scales.assign(sd.data_as<double>(), sd.data_as<double>() + sd.element_count());
    }
    if (const Tensor* s = ctx.optional_input(3); s && s->element_count())
      sizes = to_int64_vector(ctx, *s);
  }
  const int64_t rank = x.rank();
  Shape out_shape(rank);
  if (!sizes.empty()) {
    ctx.check(static_cast<int64_t>(sizes.size()) == rank, "sizes has {} entries for rank {}",
              sizes.size(), rank);
    scales.resize(rank);
    for (int64_t d = 0; d < rank; ++d) {
      out_shape[d] = sizes[d];
      scales[d] = static_cast<double>(sizes[d]) / static_cast<double>(x.shape()[d]);
    }
  } else {
    ctx.check(static_cast<int64_t>(scales.size()) == rank, "scales has {} entries for rank {}",
              scales.size(), rank);
    for (int64_t d = 0; d < rank; ++d) {
      ctx.check(scales[d] > 0, "scales must be positive");
      out_shape[d] =
          static_cast<int64_t>(std::floor(static_cast<double>(x.shape()[d]) * scales[d]));
    }
  }
  resize(ctx, x, scales, out_shape, roi, p);
}

void op_upsample(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ResizeParams p;
  p.mode = ctx.attr_s("mode", "nearest");
  p.coord = "asymmetric";
  p.nearest = "floor";
  std::vector<double> scales;
  if (ctx.has_input(1)) {
    const Tensor sd = convert_tensor(ctx, ctx.input(1), ElementType::f64);
    scales.assign(sd.data_as<double>(), sd.data_as<double>() + sd.element_count());
  } else {
    for (float f : ctx.attr_floats("scales")) scales.push_back(f);
  }
  ctx.check(static_cast<int64_t>(scales.size()) == x.rank(), "scales must have one entry per axis");
  Shape out_shape(x.rank());
  for (int64_t d = 0; d < x.rank(); ++d) {
    out_shape[d] = static_cast<int64_t>(std::floor(static_cast<double>(x.shape()[d]) * scales[d]));
  }
  resize(ctx, x, scales, out_shape, {}, p);
}

}  // namespace

void register_image_ops(KernelRegistry& r) {
  r.add("Resize", op_resize);
  r.add("Upsample", op_upsample);
}

}  // namespace sinter::cpu
