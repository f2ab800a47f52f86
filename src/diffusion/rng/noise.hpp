// Gaussian noise that reproduces what other Stable Diffusion tools draw for a seed, so a seed
// gives the same starting image here as there:
//   PhiloxNoise — torch.randn on an NVIDIA GPU (Philox 4x32-10 counters, one Box-Muller value
//                 per counter), as AUTOMATIC1111's "NV" source computes it on any device;
//   TorchCpuNoise — torch.randn with torch's CPU generator (MT19937; Box-Muller over blocks of
//                 16 uniforms), ComfyUI's default and diffusers' on the CPU.
// Both are streams: each draw continues where the last one ended, as a torch.Generator does.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace sinter::diffusion {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // `count` standard normal values (one tensor of that many elements).
  virtual std::vector<float> randn(std::size_t count) = 0;
};

class PhiloxNoise final : public NoiseSource {
 public:
  explicit PhiloxNoise(uint64_t seed) : seed_(seed) {}
  // Every tensor uses a fresh counter offset (one per call), element i counter i within it.
  std::vector<float> randn(std::size_t count) override;

 private:
  uint64_t seed_;
  uint32_t offset_ = 0;
};

class TorchCpuNoise final : public NoiseSource {
 public:
  explicit TorchCpuNoise(uint64_t seed) : engine_(static_cast<uint32_t>(seed)) {}
  std::vector<float> randn(std::size_t count) override;

 private:
  float uniform_float();    // 24 random bits
  double uniform_double();  // 53 random bits of two draws
  std::mt19937 engine_;
  bool has_cached_normal_ = false;
  double cached_normal_ = 0.0;
};

// "nv" or "cpu" (case-insensitive); throws std::invalid_argument naming the known ones.
std::unique_ptr<NoiseSource> make_noise_source(const std::string& kind, uint64_t seed);

}  // namespace sinter::diffusion
