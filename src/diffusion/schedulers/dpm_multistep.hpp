// diffusers' DPMSolverMultistepScheduler with algorithm dpmsolver++ and the midpoint solver
// (A1111 "DPM++ 2M"): the model's output converted to a denoised prediction, the first step
// and the last (down to sigma 0) of first order, the others of second order from the last two
// predictions.
#pragma once

#include "diffusion/schedulers/multistep.hpp"

namespace sinter::diffusion {

class DpmSolverMultistepScheduler final : public MultistepScheduler {
 public:
  explicit DpmSolverMultistepScheduler(const SchedulerConfig& config)
      : MultistepScheduler(config, "DPM++ 2M") {}
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
  void reset_history() override;

  std::vector<float> previous_;  // the last denoised prediction
  int lower_order_steps_ = 0;
};

}  // namespace sinter::diffusion
