#include "devices/cpu/ops/conv_row_bands.hpp"

#include <omp.h>

#include <algorithm>

namespace sinter::cpu {

namespace {

constexpr int64_t kTileRows = 4;

int64_t round_up(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace

RowBands row_bands(const ConvDims& d, int64_t rows) {
  const int64_t in_rows = d.src[2], out_rows = d.dst[2], kernel = d.weights[d.weights.size() - 2];
  const int64_t pad_top = d.pad_l[0];
  // As many bands as `rows` needs, then as few rows each as they need (70 rows in bands of up
  // to 32: three of 24, not 32 + 32 + 6 with 26 rows computed for nothing).
  const int64_t count = (out_rows + rows - 1) / rows;
  const int64_t band_rows = std::min(rows, round_up((out_rows + count - 1) / count, kTileRows));
  RowBands result;
  result.shape = d;
  result.shape.src[2] = band_rows + kernel - 1;
  result.shape.dst[2] = band_rows;
  result.shape.pad_l[0] = result.shape.pad_r[0] = 0;
  for (int64_t begin = 0; begin < out_rows; begin += band_rows) {
    // Output row o reads input rows o - pad_top ... o - pad_top + kernel - 1.
    const int64_t first = begin - pad_top;
    const int64_t in_begin = std::max<int64_t>(0, first);
    const int64_t in_end = std::min(in_rows, first + band_rows + kernel - 1);
    result.bands.push_back({begin, std::min(band_rows, out_rows - begin), in_begin,
                            in_end - in_begin, in_begin - first});
  }
  return result;
}

int64_t winograd_band_rows(const ConvDims& d) {
  // Measured on 2 Zen 5 cores (SD 1.5's VAE decoder, 128 channels at 512 columns, 256 at 256):
  // bands of 8 to 16 rows (about 4096 pixels) ran fastest, 64 rows 1.4x slower, the whole
  // image (where the scratch limit allowed it) slower still.
  constexpr int64_t kBandPixels = 4096, kPixelsPerThread = 256;
  const int64_t pixels = std::max<int64_t>(kBandPixels, kPixelsPerThread * omp_get_max_threads());
  const int64_t columns = std::max<int64_t>(1, d.dst[0] * d.dst[3]);  // of every sample
  const int64_t rows = std::max(kTileRows, pixels / columns / kTileRows * kTileRows);
  return std::min(rows, d.dst[2]);
}

}  // namespace sinter::cpu
