// A 2-D convolution computed as bands of output rows, each band the same convolution over a
// band of input rows (the rows its window reads; zero rows stand in for the image's padding
// above the first band and below the last, and the last band's surplus output rows are
// dropped). Used for oneDNN's Winograd kernels, which transform the whole image into their
// scratchpad before multiplying: 160 MB for 128 channels at 256x256, over 500 MB at 512x512 (an
// SD VAE decoder's last layers), and the transformed tiles leave the caches long before they are
// used. A band of about 4096 output pixels keeps its tiles in L2/L3 and bounds the scratchpad:
// SD 1.5's VAE decoder layers at 256x256 and 512x512 (128 to 512 channels) took 0.35-0.55 of the
// direct kernel's time in bands of 8 to 16 rows on the AVX-512 Zen 5 machine, where the whole
// image was over the scratch limit and ran direct. One shape for every band, because oneDNN
// picks its tiles and the layout of its transformed weights per shape (a band padded above and
// one not got different ones), and the bands share one packed copy of the weights.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/cpu/ops/conv_descriptor.hpp"

namespace sinter::cpu {

struct RowBand {
  int64_t out_begin = 0, out_rows = 0;  // the output rows it gives: [out_begin, +out_rows)
  int64_t in_begin = 0, in_rows = 0;    // the image rows it reads
  int64_t lead = 0;                     // zero rows above them in the band's input
};

struct RowBands {
  ConvDims shape;  // every band's convolution: no padding along the rows
  std::vector<RowBand> bands;
};

// `dims` (2-D, stride 1 and no dilation along the rows) cut into bands of at most `rows` output
// rows, as even as whole numbers of 4-row tiles allow.
RowBands row_bands(const ConvDims& dims, int64_t rows);

// The output rows per band a Winograd convolution of these dims computes in: about 4096 output
// pixels over all samples (more with many threads, so each has tiles of its own), a whole number of
// F(4x4,3x3)'s 4-row tiles; the output's height where that is no smaller.
int64_t winograd_band_rows(const ConvDims& dims);

}  // namespace sinter::cpu
