#include "diffusion/image/resize.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sinter::diffusion {

namespace {

// Per output position along one axis: the input taps and weights.
struct Taps {
  std::vector<int> index;
  std::vector<float> weight;
  std::vector<int> start;  // into index/weight, one per output position, plus the end
};

Taps axis_taps(int in, int out) {
  Taps t;
  const double scale = static_cast<double>(in) / out;
  const double support = std::max(1.0, scale);  // box width in input pixels when shrinking
  for (int o = 0; o < out; ++o) {
    t.start.push_back(static_cast<int>(t.index.size()));
    const double centre = (o + 0.5) * scale;
    const int first = static_cast<int>(std::floor(centre - support));
    const int last = static_cast<int>(std::ceil(centre + support));
    double total = 0;
    const std::size_t begin = t.index.size();
    for (int i = first; i <= last; ++i) {
      const double distance = std::fabs((i + 0.5 - centre) / support);
      if (distance >= 1.0) continue;
      const double w = 1.0 - distance;  // triangle filter
      t.index.push_back(std::clamp(i, 0, in - 1));
      t.weight.push_back(static_cast<float>(w));
      total += w;
    }
    for (std::size_t k = begin; k < t.weight.size(); ++k)
      t.weight[k] = static_cast<float>(t.weight[k] / total);
  }
  t.start.push_back(static_cast<int>(t.index.size()));
  return t;
}

}  // namespace

Image resize_image(const Image& image, int width, int height) {
  if (image.width == width && image.height == height) return image;
  const Taps tx = axis_taps(image.width, width), ty = axis_taps(image.height, height);
  // Rows first into floats, then columns.
  std::vector<float> rows(static_cast<std::size_t>(image.height) * width * 3);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        float v = 0;
        for (int k = tx.start[x]; k < tx.start[x + 1]; ++k)
          v += tx.weight[k] *
               image.rgb[(static_cast<std::size_t>(y) * image.width + tx.index[k]) * 3 + c];
        rows[(static_cast<std::size_t>(y) * width + x) * 3 + c] = v;
      }
  Image out{width, height, std::vector<uint8_t>(static_cast<std::size_t>(width) * height * 3)};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        float v = 0;
        for (int k = ty.start[y]; k < ty.start[y + 1]; ++k)
          v += ty.weight[k] * rows[(static_cast<std::size_t>(ty.index[k]) * width + x) * 3 + c];
        out.rgb[(static_cast<std::size_t>(y) * width + x) * 3 + c] =
            static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.0f, 255.0f));
      }
  return out;
}

}  // namespace sinter::diffusion
