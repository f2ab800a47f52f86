#include "diffusion/pipeline/tiling.hpp"

#include <algorithm>
#include <stdexcept>

namespace sinter::diffusion {

namespace {

float& at(Planes& p, int64_t c, int64_t y, int64_t x) {
  return p.values[static_cast<std::size_t>((c * p.height + y) * p.width + x)];
}

Planes crop(const Planes& p, int64_t y, int64_t x, int64_t height, int64_t width) {
  Planes out{p.channels, height, width, {}};
  out.values.resize(static_cast<std::size_t>(p.channels * height * width));
  for (int64_t c = 0; c < p.channels; ++c)
    for (int64_t r = 0; r < height; ++r)
      std::copy_n(p.values.begin() + (c * p.height + y + r) * p.width + x, width,
                  out.values.begin() + (c * height + r) * width);
  return out;
}

}  // namespace

Planes run_tiled(const Planes& input, const TileGeometry& g, int64_t output_height,
                 int64_t output_width, const std::function<Planes(const Planes&)>& run) {
  std::vector<std::vector<Planes>> rows;
  for (int64_t y = 0; y < input.height; y += g.stride) {
    rows.emplace_back();
    for (int64_t x = 0; x < input.width; x += g.stride) {
      const int64_t th = std::min(g.tile, input.height - y), tw = std::min(g.tile, input.width - x);
      rows.back().push_back(run(crop(input, y, x, th, tw)));
      if (rows.back().back().channels != rows.front().front().channels)
        throw std::logic_error("tiles differ in channel count");
    }
  }
  const int64_t channels = rows.front().front().channels;
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t j = 0; j < rows[i].size(); ++j) {
      Planes& t = rows[i][j];
      if (i > 0) {  // blend with the tile above, over the shared rows
        Planes& a = rows[i - 1][j];
        const int64_t extent = std::min({a.height, t.height, g.blend});
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t y = 0; y < extent; ++y)
            for (int64_t x = 0; x < std::min(a.width, t.width); ++x) {
              const float f = static_cast<float>(y) / static_cast<float>(extent);
              at(t, c, y, x) = at(a, c, a.height - extent + y, x) * (1 - f) + at(t, c, y, x) * f;
            }
      }
      if (j > 0) {  // and with the tile to the left, over the shared columns
        Planes& a = rows[i][j - 1];
        const int64_t extent = std::min({a.width, t.width, g.blend});
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t y = 0; y < std::min(a.height, t.height); ++y)
            for (int64_t x = 0; x < extent; ++x) {
              const float f = static_cast<float>(x) / static_cast<float>(extent);
              at(t, c, y, x) = at(a, c, y, a.width - extent + x) * (1 - f) + at(t, c, y, x) * f;
            }
      }
    }
  // Crop each tile to `keep` and place it.
  Planes out{channels, output_height, output_width, {}};
  out.values.resize(static_cast<std::size_t>(channels * output_height * output_width));
  int64_t top = 0;
  for (auto& row : rows) {
    int64_t left = 0, row_height = 0;
    for (Planes& t : row) {
      const int64_t keep_h = std::min(g.keep, t.height), keep_w = std::min(g.keep, t.width);
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t y = 0; y < keep_h && top + y < output_height; ++y)
          for (int64_t x = 0; x < keep_w && left + x < output_width; ++x)
            at(out, c, top + y, left + x) = at(t, c, y, x);
      left += keep_w;
      row_height = keep_h;
    }
    top += row_height;
  }
  return out;
}

}  // namespace sinter::diffusion
