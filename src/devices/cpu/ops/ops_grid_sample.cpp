// GridSample (opset 16): samples NCHW images at normalised grid positions, with nearest,
// bilinear or bicubic interpolation and zeros, border or reflection padding.
#include <cmath>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

enum class Padding { zeros, border, reflection };

// Reflects `v` into [lo, hi] as often as needed (a mirror at each end).
double reflect(double v, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (v < lo) {
    const double d = lo - v;
    const auto n = static_cast<int64_t>(d / range);
    const double rest = d - double(n) * range;
    return n % 2 == 0 ? lo + rest : hi - rest;
  }
  if (v > hi) {
    const double d = v - hi;
    const auto n = static_cast<int64_t>(d / range);
    const double rest = d - double(n) * range;
    return n % 2 == 0 ? hi - rest : lo + rest;
  }
  return v;
}

// Where reads of pixel (r, c) go under the padding rule: an index into the plane, or -1 for a
// zero (outside, with zeros padding).
struct PaddingRule {
  int64_t height, width;
  Padding padding;
  double lo_x, hi_x, lo_y, hi_y;  // the valid coordinate range (depends on align_corners)

  int64_t index(int64_t r, int64_t c) const {
    switch (padding) {
      case Padding::zeros:
        return (r >= 0 && r < height && c >= 0 && c < width) ? r * width + c : -1;
      case Padding::border:
        break;
      case Padding::reflection:
        r = static_cast<int64_t>(reflect(double(r), lo_y, hi_y));
        c = static_cast<int64_t>(reflect(double(c), lo_x, hi_x));
        break;
    }
    r = std::clamp<int64_t>(r, 0, height - 1);
    c = std::clamp<int64_t>(c, 0, width - 1);
    return r * width + c;
  }
};

// The pixels one output position reads and their weights: the same for every channel, so
// worked out once per position.
struct Taps {
  int count = 0;
  int64_t index[16];
  double weight[16];
  void add(int64_t i, double w) {
    if (i < 0) return;  // a zero-padded read adds nothing
    index[count] = i;
    weight[count++] = w;
  }
};

// Cubic convolution weights (Keys, a = -0.75) for the four taps around fractional offset t.
void cubic_weights(double t, double w[4]) {
  constexpr double a = -0.75;
  auto near = [](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

void op_grid_sample(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& grid = ctx.input(1);
  ctx.check(x.rank() == 4, "X must be NCHW (4-D), got {}", to_string(x.shape()));
  ctx.check(grid.rank() == 4 && grid.shape()[0] == x.shape()[0] && grid.shape()[3] == 2,
            "grid must be [N, H_out, W_out, 2] with N = {}, got {}", x.shape()[0],
            to_string(grid.shape()));
  const std::string mode = ctx.attr_s("mode", "bilinear");
  const std::string pad = ctx.attr_s("padding_mode", "zeros");
  const bool align = ctx.attr_i("align_corners", 0) != 0;
  ctx.check(mode == "bilinear" || mode == "nearest" || mode == "bicubic",
            "mode '{}' is not bilinear, nearest or bicubic", mode);
  ctx.check(pad == "zeros" || pad == "border" || pad == "reflection",
            "padding_mode '{}' is not zeros, border or reflection", pad);
  const Padding padding =
      pad == "zeros" ? Padding::zeros : (pad == "border" ? Padding::border : Padding::reflection);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t HO = grid.shape()[1], WO = grid.shape()[2];
  // Coordinates run from pixel centres (align_corners) or pixel edges (otherwise).
  const double lo_x = align ? 0.0 : -0.5, hi_x = align ? double(W - 1) : double(W) - 0.5;
  const double lo_y = align ? 0.0 : -0.5, hi_y = align ? double(H - 1) : double(H) - 0.5;
  auto denormalize = [align](double v, int64_t size) {
    return align ? (v + 1) / 2 * double(size - 1) : ((v + 1) * double(size) - 1) / 2;
  };
  const PaddingRule rule{H, W, padding, lo_x, hi_x, lo_y, hi_y};
  // Nearest and bilinear apply the padding rule to the sample position; bicubic applies it to
  // each of its 16 taps only (as PyTorch and ONNX Runtime do).
  const bool pad_position = mode != "bicubic";
  auto taps_at = [&](double px, double py) {
    Taps taps;
    if (pad_position && padding == Padding::border) {
      px = std::clamp(px, 0.0, double(W - 1));
      py = std::clamp(py, 0.0, double(H - 1));
    } else if (pad_position && padding == Padding::reflection) {
      px = reflect(px, lo_x, hi_x);
      py = reflect(py, lo_y, hi_y);
    }
    if (mode == "nearest") {
      taps.add(rule.index(static_cast<int64_t>(std::nearbyint(py)),
                          static_cast<int64_t>(std::nearbyint(px))),
               1.0);
    } else if (mode == "bilinear") {
      const double fx = std::floor(px), fy = std::floor(py);
      const double dx = px - fx, dy = py - fy;
      const auto x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
      taps.add(rule.index(y0, x0), (1 - dy) * (1 - dx));
      taps.add(rule.index(y0, x0 + 1), (1 - dy) * dx);
      taps.add(rule.index(y0 + 1, x0), dy * (1 - dx));
      taps.add(rule.index(y0 + 1, x0 + 1), dy * dx);
    } else {
      const double fx = std::floor(px), fy = std::floor(py);
      double wx[4], wy[4];
      cubic_weights(px - fx, wx);
      cubic_weights(py - fy, wy);
      const auto x0 = static_cast<int64_t>(fx) - 1, y0 = static_cast<int64_t>(fy) - 1;
      for (int r = 0; r < 4; ++r)
        for (int k = 0; k < 4; ++k) taps.add(rule.index(y0 + r, x0 + k), wy[r] * wx[k]);
    }
    return taps;
  };
  Tensor out(x.element_type(), {N, C, HO, WO});
  const int64_t positions = HO * WO;
  std::vector<Taps> taps(positions);
  dispatch_float(x.element_type(), ctx, [&]<typename T>() {
    const Tensor gd = convert_tensor(ctx, grid, ElementType::f64);
    for (int64_t n = 0; n < N; ++n) {
      const double* g = gd.data_as<double>() + n * positions * 2;
      parallel_for(positions, positions > 1024, [&](int64_t i) {
        taps[i] = taps_at(denormalize(g[2 * i], W), denormalize(g[2 * i + 1], H));
      });
      parallel_for(C, C * positions > 4096, [&](int64_t c) {
        const T* plane = x.data_as<T>() + (n * C + c) * H * W;
        T* po = out.data_as<T>() + (n * C + c) * positions;
        for (int64_t i = 0; i < positions; ++i) {
          const Taps& t = taps[i];
          double v = 0;
          for (int k = 0; k < t.count; ++k) v += t.weight[k] * double(plane[t.index[k]]);
          po[i] = static_cast<T>(v);
        }
      });
    }
  });
  ctx.set_output(0, out);
}

}  // namespace

void register_grid_sample_ops(KernelRegistry& r) {
  r.add("GridSample", op_grid_sample);
}

}  // namespace sinter::cpu
