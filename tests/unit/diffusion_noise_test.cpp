// The noise sources against values published by the tools whose seeds they reproduce.
#include <gtest/gtest.h>

#include <cmath>

#include "diffusion/rng/noise.hpp"

using sinter::diffusion::make_noise_source;
using sinter::diffusion::PhiloxNoise;
using sinter::diffusion::TorchCpuNoise;

// torch.randn(12, generator=torch.Generator("cuda").manual_seed(0)) on an NVIDIA GPU, the values
// AUTOMATIC1111's rng_philox reproduces (as printed by mlimgsynth's test_rng.c for seed 0,
// offset 0; the same figures torch prints on CUDA).
TEST(DiffusionNoise, PhiloxMatchesTorchCudaForSeedZero) {
  const float want[12] = {-0.92466259f, -0.42534414f, -2.64384580f, 0.14518388f,
                          -0.12086648f, -0.57972562f, -0.62285119f, -0.32838708f,
                          -1.07454228f, -0.36314407f, -1.67105067f, 2.26550508f};
  PhiloxNoise noise(0);
  const std::vector<float> got = noise.randn(12);
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  // The next tensor comes from the next counter offset: different values.
  const std::vector<float> next = noise.randn(12);
  EXPECT_GT(std::fabs(next[0] - got[0]), 1e-3);
}

// torch.manual_seed(0); torch.randn(2, 3): the scalar path torch takes under 16 values (the
// figures of torch's own documentation examples).
TEST(DiffusionNoise, TorchCpuSmallTensorsMatchTorch) {
  const float want[6] = {1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f, -1.3986f};
  TorchCpuNoise noise(0);
  const std::vector<float> got = noise.randn(6);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << i;
}

TEST(DiffusionNoise, LargeTensorsAreStandardNormal) {
  for (const char* kind : {"nv", "cpu"}) {
    auto noise = make_noise_source(kind, 1234);
    const std::vector<float> v = noise->randn(1 << 16);
    double sum = 0, squares = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x)) << kind;
      sum += x;
      squares += x * x;
    }
    const double mean = sum / v.size(), variance = squares / v.size() - mean * mean;
    EXPECT_NEAR(mean, 0.0, 0.02) << kind;
    EXPECT_NEAR(variance, 1.0, 0.03) << kind;
  }
  EXPECT_THROW(make_noise_source("gpu", 0), std::invalid_argument);
}
