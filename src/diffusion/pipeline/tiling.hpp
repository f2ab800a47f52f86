// diffusers' tiled VAE (AutoencoderKL.tiled_decode / tiled_encode): an image too large for one
// run is cut into overlapping tiles, each run alone; each tile's first rows and columns are
// blended linearly into the tile above and to the left, and the tiles are cropped and put
// together. Decoding and encoding differ only in the sizes (pixels vs latents).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace sinter::diffusion {

struct TileGeometry {
  int64_t tile;    // input size of a tile (at most; edge tiles are smaller)
  int64_t stride;  // input distance between tiles
  int64_t blend;   // output rows and columns blended with the neighbour above or to the left
  int64_t keep;    // output rows and columns kept of each tile
};

// diffusers' defaults: decode latent tiles of 64 every 48, blend 128 pixels, keep 384;
// encode pixel tiles of 512 every 384, blend 16 latent pixels, keep 48.
inline constexpr TileGeometry kDecodeTiles{64, 48, 128, 384};
inline constexpr TileGeometry kEncodeTiles{512, 384, 16, 48};

// A [channels, height, width] block.
struct Planes {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> values;
};

// Runs `run` on each tile of `input` and returns the blended, stitched result of size
// output_height x output_width. `run` maps a tile to its output (any channel count, the same
// for every tile; output sizes proportional to the input's).
Planes run_tiled(const Planes& input, const TileGeometry& geometry, int64_t output_height,
                 int64_t output_width, const std::function<Planes(const Planes&)>& run);

}  // namespace sinter::diffusion
