#include "diffusion/rng/noise.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace sinter::diffusion {

namespace {

// Philox 4x32 constants (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

struct Counter {
  uint32_t c[4];
};

void philox_round(Counter& x, const uint32_t key[2]) {
  const uint64_t p0 = static_cast<uint64_t>(x.c[0]) * kMultiplier0;
  const uint64_t p1 = static_cast<uint64_t>(x.c[2]) * kMultiplier1;
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  x = Counter{{hi1 ^ x.c[1] ^ key[0], lo1, hi0 ^ x.c[3] ^ key[1], lo0}};
}

// Ten rounds, the key bumped by the Weyl constants between rounds.
Counter philox_4x32_10(Counter x, uint64_t seed) {
  uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  for (int round = 0; round < 9; ++round) {
    philox_round(x, key);
    key[0] += kWeyl0;
    key[1] += kWeyl1;
  }
  philox_round(x, key);
  return x;
}

}  // namespace

std::vector<float> PhiloxNoise::randn(std::size_t count) {
  // As torch's CUDA normal: u in (0, 1] from the first word, an angle from the second, and the
  // sine branch of Box-Muller, computed in double and rounded once.
  constexpr double kInv32 = 1.0 / 4294967296.0;
  constexpr double kInv32TwoPi = 2.0 * std::numbers::pi / 4294967296.0;
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Counter r = philox_4x32_10(Counter{{offset_, 0, static_cast<uint32_t>(i), 0}}, seed_);
    const double u = r.c[0] * kInv32 + kInv32 / 2;
    const double v = r.c[1] * kInv32TwoPi + kInv32TwoPi / 2;
    out[i] = static_cast<float>(std::sqrt(-2.0 * std::log(u)) * std::sin(v));
  }
  ++offset_;
  return out;
}

float TorchCpuNoise::uniform_float() {
  return static_cast<float>(engine_() & ((1u << 24) - 1)) * (1.0f / (1u << 24));
}

double TorchCpuNoise::uniform_double() {
  const uint64_t high = engine_(), low = engine_();
  const uint64_t bits = (high << 32) | low;
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * (1.0 / (uint64_t{1} << 53));
}

std::vector<float> TorchCpuNoise::randn(std::size_t count) {
  std::vector<float> out(count);
  if (count < 16) {
    // torch's scalar path: double Box-Muller, the second value of each pair cached.
    for (float& value : out) {
      if (has_cached_normal_) {
        has_cached_normal_ = false;
        value = static_cast<float>(cached_normal_);
        continue;
      }
      const double u1 = uniform_double(), u2 = uniform_double();
      const double r = std::sqrt(-2.0 * std::log1p(-u2));
      const double theta = 2.0 * std::numbers::pi * u1;
      cached_normal_ = r * std::sin(theta);
      has_cached_normal_ = true;
      value = static_cast<float>(r * std::cos(theta));
    }
    return out;
  }
  // torch's vectorised path: all uniforms first, then Box-Muller in float over blocks of 16
  // (value j pairs with j + 8); a ragged end redraws a last block of 16 ending at the end.
  auto fill_16 = [](float* d) {
    for (int j = 0; j < 8; ++j) {
      const float u1 = 1.0f - d[j], u2 = d[j + 8];
      const float radius = std::sqrt(-2.0f * std::log(u1));
      const float theta = static_cast<float>(2.0 * std::numbers::pi * u2);
      d[j] = radius * std::cos(theta);
      d[j + 8] = radius * std::sin(theta);
    }
  };
  for (float& value : out) value = uniform_float();
  for (std::size_t i = 0; i + 16 <= count; i += 16) fill_16(out.data() + i);
  if (count % 16 != 0) {
    float* last = out.data() + count - 16;
    for (int j = 0; j < 16; ++j) last[j] = uniform_float();
    fill_16(last);
  }
  return out;
}

std::unique_ptr<NoiseSource> make_noise_source(const std::string& kind, uint64_t seed) {
  std::string k = kind;
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  if (k == "nv") return std::make_unique<PhiloxNoise>(seed);
  if (k == "cpu") return std::make_unique<TorchCpuNoise>(seed);
  throw std::invalid_argument("unknown noise source '" + kind + "' (known: nv, cpu)");
}

}  // namespace sinter::diffusion
