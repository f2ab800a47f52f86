// Object-detection post-processing: NonMaxSuppression and RoiAlign.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

struct Box {
  float y1, x1, y2, x2;  // y1 <= y2, x1 <= x2
  float area() const { return (y2 - y1) * (x2 - x1); }
};

// Corners from [y1, x1, y2, x2] in any diagonal order, or from [x_center, y_center, w, h].
// Computed in single precision, as ONNX Runtime does, so that borderline IoU decisions agree.
Box read_box(const double* values, bool center_point) {
  const float b[4] = {float(values[0]), float(values[1]), float(values[2]), float(values[3])};
  if (center_point) {
    return {b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2};
  }
  return {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
}

float intersection_over_union(const Box& a, const Box& b) {
  const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (h <= 0 || w <= 0) return 0;
  const float inter = h * w;
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0;
}

void op_non_max_suppression(OpContext& ctx) {
  const Tensor& boxes = ctx.input(0);
  const Tensor& scores = ctx.input(1);
  ctx.check(boxes.rank() == 3 && boxes.shape()[2] == 4, "boxes must be [batches, boxes, 4], got {}",
            to_string(boxes.shape()));
  ctx.check(scores.rank() == 3 && scores.shape()[0] == boxes.shape()[0] &&
                scores.shape()[2] == boxes.shape()[1],
            "scores must be [batches, classes, boxes] = [{}, *, {}], got {}", boxes.shape()[0],
            boxes.shape()[1], to_string(scores.shape()));
  const Tensor* max_t = ctx.optional_input(2);
  const Tensor* iou_t = ctx.optional_input(3);
  const Tensor* score_t = ctx.optional_input(4);
  const int64_t max_per_class =
      max_t && max_t->element_count() ? static_cast<int64_t>(scalar_as_double(ctx, *max_t)) : 0;
  const float iou_threshold =
      iou_t && iou_t->element_count() ? float(scalar_as_double(ctx, *iou_t)) : 0;
  const bool has_score_threshold = score_t && score_t->element_count();
  const float score_threshold = has_score_threshold ? float(scalar_as_double(ctx, *score_t)) : 0;
  const bool center_point = ctx.attr_i("center_point_box", 0) != 0;
  const int64_t batches = boxes.shape()[0], count = boxes.shape()[1], classes = scores.shape()[1];
  const auto box_values = to_double_vector(ctx, boxes);
  const auto score_values = to_double_vector(ctx, scores);

  std::vector<int64_t> selected;  // triples (batch, class, box)
  for (int64_t b = 0; b < batches; ++b) {
    std::vector<Box> bx(count);
    for (int64_t i = 0; i < count; ++i)
      bx[i] = read_box(&box_values[(b * count + i) * 4], center_point);
    for (int64_t c = 0; c < classes; ++c) {
      const double* s = &score_values[(b * classes + c) * count];
      std::vector<int64_t> order;
      for (int64_t i = 0; i < count; ++i)
        if (!has_score_threshold || s[i] > score_threshold) order.push_back(i);
      // Highest score first; equal scores keep the lower index first.
      std::stable_sort(order.begin(), order.end(),
                       [s](int64_t x, int64_t y) { return s[x] > s[y]; });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
        bool suppressed = false;
        for (int64_t k : kept) {
          if (intersection_over_union(bx[i], bx[k]) > iou_threshold) {
            suppressed = true;
            break;
          }
        }
        if (suppressed) continue;
        kept.push_back(i);
        selected.insert(selected.end(), {b, c, i});
      }
    }
  }
  const int64_t n = static_cast<int64_t>(selected.size()) / 3;
  ctx.set_output(0, make_i64_tensor(selected, {n, 3}));
}

// Bilinear sample of one channel plane at (y, x), following the RoiAlign reference: points more
// than one pixel outside the plane contribute zero, others are clamped to the border.
struct BilinearSample {
  int64_t offsets[4] = {0, 0, 0, 0};
  double weights[4] = {0, 0, 0, 0};
};

BilinearSample bilinear_sample(double y, double x, int64_t height, int64_t width) {
  BilinearSample s;
  if (y < -1.0 || y > double(height) || x < -1.0 || x > double(width)) return s;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1, x1;
  if (y0 >= height - 1) {
    y0 = y1 = height - 1;
    y = double(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= width - 1) {
    x0 = x1 = width - 1;
    x = double(x0);
  } else {
    x1 = x0 + 1;
  }
  const double ly = y - double(y0), lx = x - double(x0), hy = 1 - ly, hx = 1 - lx;
  s.offsets[0] = y0 * width + x0;
  s.offsets[1] = y0 * width + x1;
  s.offsets[2] = y1 * width + x0;
  s.offsets[3] = y1 * width + x1;
  s.weights[0] = hy * hx;
  s.weights[1] = hy * lx;
  s.weights[2] = ly * hx;
  s.weights[3] = ly * lx;
  return s;
}

struct RoiAlignParams {
  int64_t C, H, W, oh, ow, sampling;
  double scale;
  bool max_mode, half_pixel;
};

// RoiAlign of every roi: the bilinear taps of a roi's bins are worked out once and applied to
// every channel; positions, weights and sums in double, as the ONNX reference computes.
template <typename T>
void roi_align(const RoiAlignParams& p, const T* x, const std::vector<double>& r,
               const std::vector<int64_t>& batch, T* out) {
  const int64_t num_rois = static_cast<int64_t>(batch.size());
  std::vector<BilinearSample> taps;
  for (int64_t n = 0; n < num_rois; ++n) {
    const double offset = p.half_pixel ? 0.5 : 0.0;
    const double start_w = r[n * 4 + 0] * p.scale - offset,
                 start_h = r[n * 4 + 1] * p.scale - offset;
    double roi_w = r[n * 4 + 2] * p.scale - offset - start_w;
    double roi_h = r[n * 4 + 3] * p.scale - offset - start_h;
    if (!p.half_pixel) {  // legacy: force rois to be at least one pixel
      roi_w = std::max(roi_w, 1.0);
      roi_h = std::max(roi_h, 1.0);
    }
    const double bin_h = roi_h / double(p.oh), bin_w = roi_w / double(p.ow);
    const int64_t grid_h =
        p.sampling > 0 ? p.sampling : static_cast<int64_t>(std::ceil(roi_h / double(p.oh)));
    const int64_t grid_w =
        p.sampling > 0 ? p.sampling : static_cast<int64_t>(std::ceil(roi_w / double(p.ow)));
    const int64_t per_bin = grid_h * grid_w;
    const double samples = double(std::max<int64_t>(per_bin, 1));
    taps.clear();
    for (int64_t ph = 0; ph < p.oh; ++ph)
      for (int64_t pw = 0; pw < p.ow; ++pw)
        for (int64_t iy = 0; iy < grid_h; ++iy) {
          const double y = start_h + ph * bin_h + (iy + 0.5) * bin_h / double(grid_h);
          for (int64_t ix = 0; ix < grid_w; ++ix) {
            const double xx = start_w + pw * bin_w + (ix + 0.5) * bin_w / double(grid_w);
            taps.push_back(bilinear_sample(y, xx, p.H, p.W));
          }
        }
    const int64_t bins = p.oh * p.ow;
    parallel_for(p.C, p.C * bins * per_bin >= (1 << 15), [&](int64_t c) {
      const T* plane = x + (batch[n] * p.C + c) * p.H * p.W;
      T* o = out + (n * p.C + c) * bins;
      for (int64_t bin = 0; bin < bins; ++bin) {
        const BilinearSample* s = taps.data() + bin * per_bin;
        double acc = 0;
        for (int64_t k = 0; k < per_bin; ++k) {
          if (p.max_mode) {
            // As the ONNX reference and ONNX Runtime do: the largest weighted corner.
            double v = s[k].weights[0] * double(plane[s[k].offsets[0]]);
            for (int q = 1; q < 4; ++q)
              v = std::max(v, s[k].weights[q] * double(plane[s[k].offsets[q]]));
            acc = k == 0 ? v : std::max(acc, v);
          } else {
            for (int q = 0; q < 4; ++q) acc += s[k].weights[q] * double(plane[s[k].offsets[q]]);
          }
        }
        o[bin] = static_cast<T>(p.max_mode ? acc : acc / samples);
      }
    });
  }
}

void op_roi_align(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& rois = ctx.input(1);
  const Tensor& batch_indices = ctx.input(2);
  ctx.check(x.rank() == 4, "X must be NCHW, got {}", to_string(x.shape()));
  ctx.check(rois.rank() == 2 && rois.shape()[1] == 4, "rois must be [num_rois, 4], got {}",
            to_string(rois.shape()));
  const int64_t num_rois = rois.shape()[0];
  const auto batch = to_int64_vector(ctx, batch_indices);
  ctx.check(static_cast<int64_t>(batch.size()) == num_rois,
            "batch_indices has {} entries for {} rois", batch.size(), num_rois);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t oh = ctx.attr_i("output_height", 1), ow = ctx.attr_i("output_width", 1);
  const int64_t sampling = ctx.attr_i("sampling_ratio", 0);
  const double scale = ctx.attr_f("spatial_scale", 1.0f);
  const bool max_mode = ctx.attr_s("mode", "avg") == "max";
  // Opset 16 added half_pixel (the default there); before it the behaviour was output_half_pixel.
  const std::string ctm = ctx.attr_s("coordinate_transformation_mode",
                                     ctx.opset() >= 16 ? "half_pixel" : "output_half_pixel");
  const bool half_pixel = ctm == "half_pixel";
  ctx.check(half_pixel || ctm == "output_half_pixel",
            "coordinate_transformation_mode '{}' is not half_pixel or output_half_pixel", ctm);

  const auto r = to_double_vector(ctx, rois);
  for (int64_t n = 0; n < num_rois; ++n)
    ctx.check(batch[n] >= 0 && batch[n] < N, "batch index {} of roi {} is outside [0, {})",
              batch[n], n, N);
  RoiAlignParams p{C, H, W, oh, ow, sampling, scale, max_mode, half_pixel};
  // f32 and f64 are read as they are (the input used to be widened to f64 on every call, most
  // of the op's time); f16 and bf16 go through f32.
  if (x.element_type() == ElementType::f64) {
    Tensor out(ElementType::f64, {num_rois, C, oh, ow});
    roi_align(p, x.data_as<double>(), r, batch, out.data_as<double>());
    ctx.set_output(0, out);
    return;
  }
  const Tensor xf = convert_tensor(ctx, x, ElementType::f32);
  Tensor out(ElementType::f32, {num_rois, C, oh, ow});
  roi_align(p, xf.data_as<float>(), r, batch, out.data_as<float>());
  ctx.set_output(0, convert_tensor(ctx, out, x.element_type()));
}

}  // namespace

void register_detection_ops(KernelRegistry& r) {
  r.add("NonMaxSuppression", op_non_max_suppression);
  r.add("RoiAlign", op_roi_align);
}

}  // namespace sinter::cpu
