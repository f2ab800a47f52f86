// Resize (and the older Upsample): nearest, linear and cubic, every coordinate mode of ONNX.
#include <algorithm>
#include <cmath>
#include <vector>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/resize_plan.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

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
    parallel_for(rows, rows > 16, [&](int64_t row) {
      int64_t base = 0, rem = row;
      for (int64_t d = rank - 2; d >= 0; --d) {
        base += offsets[d][rem % shape[d]];
        rem /= shape[d];
      }
      T* out_row = dst + row * width;
      for (int64_t i = 0; i < width; ++i) out_row[i] = src[base + last[i]];
    });
  });
  return true;
}

// f32 resizes of the last two axes only (the leading ones copied as they are), every output
// position with its taps inside the input (no extrapolation): bilinear and bicubic upsampling of
// feature maps, as U-Nets and detectors do between stages. Separable, in the order and with the
// float arithmetic of the channels-last kernel (ops_channels_last.cpp: the input rows an output
// row reads, weighted and summed, then each output element the weighted sum of that row's
// elements its width taps name, zero weights skipped), so that a model gives the same numbers
// whichever layout its values are kept in on this CPU: quantized models amplify a last-bit
// difference into a different code. The general loop below walks every tap of every output
// element with per-element bookkeeping (IS-Net's 1024x1024 side outputs took a second each).
bool separable_resize(const Tensor& x, const std::vector<std::vector<std::vector<Tap>>>& taps,
                      Tensor& out) {
  const int64_t rank = x.rank();
  if (x.element_type() != ElementType::f32 || rank < 2) return false;
  for (int64_t d = 0; d < rank; ++d) {
    for (int64_t j = 0; j < static_cast<int64_t>(taps[d].size()); ++j) {
      const auto& t = taps[d][j];
      if (t.empty()) return false;
      if (d < rank - 2 && (t.size() != 1 || t[0].index != j || t[0].weight != 1.0)) return false;
    }
  }
  const int64_t in_h = x.shape()[rank - 2], in_w = x.shape()[rank - 1];
  const int64_t out_h = out.shape()[rank - 2], out_w = out.shape()[rank - 1];
  const int64_t planes = out.element_count() / (out_h * out_w);
  const auto& h_taps = taps[rank - 2];
  const auto& w_taps = taps[rank - 1];
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
#pragma omp parallel
  {
    std::vector<float> row(static_cast<std::size_t>(in_w));
#pragma omp for schedule(static)
    for (int64_t pi = 0; pi < planes * out_h; ++pi) {
      const int64_t plane = pi / out_h, i = pi % out_h;
      const float* in = src + plane * in_h * in_w;
      std::fill(row.begin(), row.end(), 0.f);
      for (const Tap& t : h_taps[i]) {
        const float w = static_cast<float>(t.weight);
        if (w == 0.f) continue;
        const float* in_row = in + t.index * in_w;
        for (int64_t k = 0; k < in_w; ++k) row[k] += w * in_row[k];
      }
      float* out_row = dst + pi * out_w;
      for (int64_t j = 0; j < out_w; ++j) {
        float acc = 0.f;
        for (const Tap& t : w_taps[j]) {
          const float w = static_cast<float>(t.weight);
          if (w != 0.f) acc += w * row[t.index];
        }
        out_row[j] = acc;
      }
    }
  }
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
  if (rank > 0 && out.element_count() > 0 &&
      (nearest_copy(ctx, x, taps, in_st, out) || separable_resize(x, taps, out))) {
    ctx.set_output(0, out);
    return;
  }
  dispatch_numeric(x.element_type(), ctx, [&]<typename T>() {
    const T* src = x.data_as<T>();
    T* dst = out.data_as<T>();
    parallel_for(out.element_count(), true, [&](int64_t i) {
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
    });
  });
  ctx.set_output(0, out);
}

void op_resize(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const ResizePlan plan = plan_resize(ctx, x, ctx.opset());
  resize(ctx, x, plan.scales, plan.out_shape, plan.roi, plan.params);
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
