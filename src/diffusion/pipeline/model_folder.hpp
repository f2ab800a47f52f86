// A diffusers ONNX pipeline folder: where its sub-models are and what its configs say.
#pragma once

#include <filesystem>
#include <string>

#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

struct ModelFolder {
  std::filesystem::path root;
  std::filesystem::path text_encoder, unet, vae_decoder, vae_encoder;  // model files
  std::filesystem::path tokenizer;                                     // folder
  SchedulerConfig scheduler;
  double vae_scaling_factor = 0.18215;
  bool has_vae_encoder = false;

  // Throws sinter::Error (io_error / invalid_model) naming the file that is missing or wrong.
  static ModelFolder read(const std::filesystem::path& root);
};

}  // namespace sinter::diffusion
