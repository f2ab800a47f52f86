#include "ir/window_geometry.hpp"

#include <cmath>

#include "base/errors.hpp"

namespace sinter::ir {

namespace {

template <typename... Args>
void check(const Node& node, bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) {
    throw Error(ErrorCategory::invalid_argument,
                node.label() + ": " + fmt::format(format, std::forward<Args>(args)...));
  }
}

// Reads strides/dilations/pads and resolves auto_pad for a forward window op.
void forward_geometry(const Node& node, const Shape& x, WindowGeometry& g, bool ceil_mode) {
  const int64_t sp = static_cast<int64_t>(x.size()) - 2;
  g.strides = node.attr_ints("strides", std::vector<int64_t>(sp, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(sp, 1));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
  check(node,
        static_cast<int64_t>(g.strides.size()) == sp &&
            static_cast<int64_t>(g.dilations.size()) == sp &&
            static_cast<int64_t>(pads.size()) == 2 * sp &&
            static_cast<int64_t>(g.kernel.size()) == sp,
        "strides/dilations/pads/kernel do not match {} spatial dimensions", sp);
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  g.pads_begin.assign(pads.begin(), pads.begin() + sp);
  g.pads_end.assign(pads.begin() + sp, pads.end());
  for (int64_t i = 0; i < sp; ++i) {
    check(node, g.strides[i] > 0 && g.dilations[i] > 0 && g.kernel[i] > 0,
          "strides, dilations and kernel sizes must be positive");
    const int64_t in = x[2 + i];
    const int64_t k = (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t out;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = (in + g.strides[i] - 1) / g.strides[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[i] + k - in);
      const int64_t small = total / 2;
      g.pads_begin[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      g.pads_end[i] = total - g.pads_begin[i];
    } else {
      if (auto_pad == "VALID")
        g.pads_begin[i] = g.pads_end[i] = 0;
      else
        check(node, auto_pad == "NOTSET", "unknown auto_pad '{}'", auto_pad);
      const int64_t span = in + g.pads_begin[i] + g.pads_end[i] - k;
      if (ceil_mode) {
        out = static_cast<int64_t>(std::ceil(static_cast<double>(span) / g.strides[i])) + 1;
        // The last window must start inside the input or the left padding.
        if ((out - 1) * g.strides[i] >= in + g.pads_begin[i]) --out;
      } else {
        out = span >= 0 ? span / g.strides[i] + 1 : 0;
      }
    }
    check(node, out >= 0, "window larger than the padded input on spatial axis {}", i);
    g.output_shape.push_back(out);
  }
}

}  // namespace

WindowGeometry conv_window(const Node& node, const Shape& x, const Shape& w, bool transposed) {
  WindowGeometry g;
  const int64_t sp = static_cast<int64_t>(x.size()) - 2;
  g.group = node.attr_int("group", 1);
  check(node, g.group > 0 && x[1] % g.group == 0, "group {} does not divide {} input channels",
        g.group, x[1]);
  g.kernel = node.attr_ints("kernel_shape", Shape(w.begin() + 2, w.end()));
  const int64_t out_channels = transposed ? w[1] * g.group : w[0];
  if (!transposed) {
    forward_geometry(node, x, g, false);
    g.output_shape.insert(g.output_shape.begin(), {x[0], out_channels});
    return g;
  }
  g.strides = node.attr_ints("strides", std::vector<int64_t>(sp, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(sp, 1));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
  const std::vector<int64_t> out_pad =
      node.attr_ints("output_padding", std::vector<int64_t>(sp, 0));
  const std::vector<int64_t> out_shape = node.attr_ints("output_shape", {});
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  check(node,
        static_cast<int64_t>(pads.size()) == 2 * sp && static_cast<int64_t>(out_pad.size()) == sp &&
            static_cast<int64_t>(g.strides.size()) == sp &&
            static_cast<int64_t>(g.dilations.size()) == sp &&
            static_cast<int64_t>(g.kernel.size()) == sp &&
            (out_shape.empty() || static_cast<int64_t>(out_shape.size()) >= sp),
        "pads/strides/dilations/kernel_shape/output_padding/output_shape do not match {} spatial "
        "dimensions",
        sp);
  g.pads_begin.assign(pads.begin(), pads.begin() + sp);
  g.pads_end.assign(pads.begin() + sp, pads.end());
  g.output_shape = {x[0], out_channels};
  for (int64_t i = 0; i < sp; ++i) {
    const int64_t in = x[2 + i];
    const int64_t k = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t full = g.strides[i] * (in - 1) + out_pad[i] + k;
    int64_t target = -1;
    if (!out_shape.empty()) {
      target = out_shape[out_shape.size() - sp + i];
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      target = in * g.strides[i];
    }
    if (target >= 0) {
      const int64_t total = std::max<int64_t>(0, full - target);
      if (auto_pad == "SAME_UPPER") {
        g.pads_begin[i] = total / 2;
        g.pads_end[i] = total - total / 2;
      } else {
        g.pads_begin[i] = total - total / 2;
        g.pads_end[i] = total / 2;
      }
      g.output_shape.push_back(target);
    } else {
      if (auto_pad == "VALID") g.pads_begin[i] = g.pads_end[i] = 0;
      g.output_shape.push_back(full - g.pads_begin[i] - g.pads_end[i]);
    }
  }
  return g;
}

WindowGeometry pool_window(const Node& node, const Shape& x) {
  WindowGeometry g;
  g.kernel = node.attr_ints("kernel_shape", {});
  check(node, static_cast<int64_t>(g.kernel.size()) == static_cast<int64_t>(x.size()) - 2,
        "kernel_shape {} does not match input {}", to_string(g.kernel), to_string(x));
  forward_geometry(node, x, g, node.attr_int("ceil_mode", 0) != 0);
  g.output_shape.insert(g.output_shape.begin(), {x[0], x[1]});
  return g;
}

}  // namespace sinter::ir
