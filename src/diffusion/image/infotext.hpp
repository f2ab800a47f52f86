// A1111's generation parameters text ("infotext"), the string its PNG Info tab and its API
// read back: the prompt, "Negative prompt: ..." when there is one, then one line of
// "Key: value" pairs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace sinter::diffusion {

struct Infotext {
  std::string prompt, negative_prompt, sampler, schedule;
  int steps = 0, width = 0, height = 0;
  double cfg_scale = 0;
  int64_t seed = 0;
  std::string model_hash, model;
  double denoising_strength = -1;  // img2img only (A1111's "Denoising strength")
};

std::string format_infotext(const Infotext& info);

// A1111's short model hash: the first 10 hex digits of the file's SHA-256.
std::string short_hash(const std::filesystem::path& file);

}  // namespace sinter::diffusion
