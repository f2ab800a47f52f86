#include "devices/cpu/ops/resize_plan.hpp"

#include <algorithm>
#include <cmath>

#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

double cubic_weight(double s, double a) {
  s = std::fabs(s);
  if (s <= 1) return ((a + 2) * s - (a + 3)) * s * s + 1;
  if (s < 2) return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
  return 0;
}

}  // namespace

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

ResizePlan plan_resize(const OpContext& ctx, const Tensor& x, int64_t onnx_opset) {
  ResizeParams p;
  p.mode = ctx.attr_s("mode", "nearest");
  ctx.check(p.mode == "nearest" || p.mode == "linear" || p.mode == "cubic", "unknown mode '{}'",
            p.mode);
  std::vector<double> roi, scales;
  Shape sizes;
  if (onnx_opset < 11) {
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
  return ResizePlan{p, scales, roi, out_shape};
}

}  // namespace sinter::cpu
