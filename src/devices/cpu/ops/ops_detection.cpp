// Object-detection post-processing: NonMaxSuppression and RoiAlign.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
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

  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  const auto r = to_double_vector(ctx, rois);
  Tensor out(ElementType::f64, {num_rois, C, oh, ow});
  double* po = out.data_as<double>();
  for (int64_t n = 0; n < num_rois; ++n) {
    ctx.check(batch[n] >= 0 && batch[n] < N, "batch index {} of roi {} is outside [0, {})",
              batch[n], n, N);
    const double offset = half_pixel ? 0.5 : 0.0;
    const double start_w = r[n * 4 + 0] * scale - offset, start_h = r[n * 4 + 1] * scale - offset;
    double roi_w = r[n * 4 + 2] * scale - offset - start_w;
    double roi_h = r[n * 4 + 3] * scale - offset - start_h;
    if (!half_pixel) {  // legacy: force rois to be at least one pixel
      roi_w = std::max(roi_w, 1.0);
      roi_h = std::max(roi_h, 1.0);
    }
    const double bin_h = roi_h / double(oh), bin_w = roi_w / double(ow);
    const int64_t grid_h =
        sampling > 0 ? sampling : static_cast<int64_t>(std::ceil(roi_h / double(oh)));
    const int64_t grid_w =
        sampling > 0 ? sampling : static_cast<int64_t>(std::ceil(roi_w / double(ow)));
    const double samples = double(std::max<int64_t>(grid_h * grid_w, 1));
    for (int64_t c = 0; c < C; ++c) {
      const double* plane = xd.data_as<double>() + (batch[n] * C + c) * H * W;
      for (int64_t ph = 0; ph < oh; ++ph) {
        for (int64_t pw = 0; pw < ow; ++pw) {
          double acc = 0;
          bool first = true;
          for (int64_t iy = 0; iy < grid_h; ++iy) {
            const double y = start_h + ph * bin_h + (iy + 0.5) * bin_h / double(grid_h);
            for (int64_t ix = 0; ix < grid_w; ++ix) {
              const double xx = start_w + pw * bin_w + (ix + 0.5) * bin_w / double(grid_w);
              const BilinearSample s = bilinear_sample(y, xx, H, W);
              if (max_mode) {
                // As the ONNX reference and ONNX Runtime do: the largest weighted corner.
                double v = s.weights[0] * plane[s.offsets[0]];
                for (int k = 1; k < 4; ++k) v = std::max(v, s.weights[k] * plane[s.offsets[k]]);
                acc = first ? v : std::max(acc, v);
                first = false;
              } else {
                for (int k = 0; k < 4; ++k) acc += s.weights[k] * plane[s.offsets[k]];
              }
            }
          }
          po[((n * C + c) * oh + ph) * ow + pw] = max_mode ? acc : acc / samples;
        }
      }
    }
  }
  ctx.set_output(0, convert_tensor(ctx, out, x.element_type()));
}

}  // namespace

void register_detection_ops(KernelRegistry& r) {
  r.add("NonMaxSuppression", op_non_max_suppression);
  r.add("RoiAlign", op_roi_align);
}

}  // namespace sinter::cpu
