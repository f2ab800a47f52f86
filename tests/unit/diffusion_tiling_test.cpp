// The tiled VAE's geometry against untiled results: with a run that treats every pixel alike
// (an 8x upsampling for the decoder, an 8x8 average for the encoder) the stitched tiles equal
// the whole image's result; with a run that gives each tile its own constant, the seam is
// diffusers' linear blend.
#include <gtest/gtest.h>

#include "diffusion/pipeline/tiling.hpp"

namespace {

using sinter::diffusion::kDecodeTiles;
using sinter::diffusion::kEncodeTiles;
using sinter::diffusion::Planes;
using sinter::diffusion::run_tiled;

Planes ramp(int64_t channels, int64_t height, int64_t width) {
  Planes p{channels, height, width, {}};
  for (int64_t i = 0; i < channels * height * width; ++i)
    p.values.push_back(static_cast<float>((i * 7919) % 1000) / 1000.0f);
  return p;
}

Planes upsample8(const Planes& in) {  // nearest neighbour, 4 channels to 3
  Planes out{3, in.height * 8, in.width * 8, {}};
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < out.height; ++y)
      for (int64_t x = 0; x < out.width; ++x)
        out.values.push_back(in.values[(c * in.height + y / 8) * in.width + x / 8]);
  return out;
}

Planes average8(const Planes& in) {  // 8x8 means, 3 channels to 8 (the moments' count)
  Planes out{8, in.height / 8, in.width / 8, {}};
  for (int64_t c = 0; c < 8; ++c)
    for (int64_t y = 0; y < out.height; ++y)
      for (int64_t x = 0; x < out.width; ++x) {
        float sum = 0;
        for (int64_t dy = 0; dy < 8; ++dy)
          for (int64_t dx = 0; dx < 8; ++dx)
            sum += in.values[((c % 3) * in.height + y * 8 + dy) * in.width + x * 8 + dx];
        out.values.push_back(sum / 64.0f);
      }
  return out;
}

void expect_near(const Planes& a, const Planes& b) {
  ASSERT_EQ(a.channels, b.channels);
  ASSERT_EQ(a.height, b.height);
  ASSERT_EQ(a.width, b.width);
  for (std::size_t i = 0; i < a.values.size(); ++i)
    ASSERT_NEAR(a.values[i], b.values[i], 1e-5) << i;
}

TEST(DiffusionTiling, DecodeTilesStitchToTheWholeImage) {
  for (auto [h, w] : {std::pair<int64_t, int64_t>{80, 72}, {64, 130}, {150, 97}}) {
    const Planes z = ramp(4, h, w);
    int runs = 0;
    const Planes tiled = run_tiled(z, kDecodeTiles, 8 * h, 8 * w, [&](const Planes& t) {
      ++runs;
      EXPECT_LE(t.height, 64);
      EXPECT_LE(t.width, 64);
      return upsample8(t);
    });
    expect_near(tiled, upsample8(z));
    // Tiles start every 48 latent pixels.
    EXPECT_EQ(runs, ((h + 47) / 48) * ((w + 47) / 48)) << h << "x" << w;
  }
}

TEST(DiffusionTiling, EncodeTilesStitchToTheWholeImage) {
  for (auto [h, w] : {std::pair<int64_t, int64_t>{640, 576}, {1024, 1024}, {520, 904}}) {
    const Planes pixels = ramp(3, h, w);
    const Planes tiled = run_tiled(pixels, kEncodeTiles, h / 8, w / 8, [&](const Planes& t) {
      EXPECT_LE(t.height, 512);
      EXPECT_LE(t.width, 512);
      return average8(t);
    });
    expect_near(tiled, average8(pixels));
  }
}

// Two tiles side by side, each its own constant: tile 0 kept for 384 pixels, then tile 1 whose
// first 128 columns ramp from tile 0's value (diffusers' blend_h: a * (1 - x/128) + b * x/128).
TEST(DiffusionTiling, SeamsBlendLinearlyAsDiffusersDoes) {
  const Planes z = ramp(4, 48, 96);  // two tiles across (at 0 and 48), one down
  int tile = 0;
  const Planes out = run_tiled(z, kDecodeTiles, 384, 768, [&](const Planes& t) {
    Planes o{3, 8 * t.height, 8 * t.width, {}};
    o.values.assign(static_cast<std::size_t>(3 * o.height * o.width), static_cast<float>(tile++));
    return o;
  });
  ASSERT_EQ(tile, 2);
  for (int64_t x = 0; x < 768; ++x) {
    const float want = x < 384 ? 0.0f : x < 384 + 128 ? static_cast<float>(x - 384) / 128 : 1.0f;
    ASSERT_NEAR(out.values[static_cast<std::size_t>(100 * 768 + x)], want, 1e-6) << x;
  }
}

}  // namespace
