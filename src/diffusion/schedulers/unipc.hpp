// diffusers' UniPCMultistepScheduler (A1111 "UniPC"): the B(h) = e^h - 1 ("bh2") predictor of
// order up to 2 on denoised predictions, and after every step but the first the corrector
// that refines the sample just predicted with the model's output at it.
#pragma once

#include "diffusion/schedulers/multistep.hpp"

namespace sinter::diffusion {

class UniPcScheduler final : public MultistepScheduler {
 public:
  explicit UniPcScheduler(const SchedulerConfig& config) : MultistepScheduler(config, "UniPC") {}
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
  void reset_history() override;

  std::vector<std::vector<float>> outputs_;  // denoised predictions, newest last (at most 2)
  std::vector<float> last_sample_;           // the sample the last predictor started from
  int last_order_ = 0;                       // that predictor's order
  int lower_order_steps_ = 0;
};

}  // namespace sinter::diffusion
