// diffusers' DPMSolverMultistepScheduler with the midpoint solver: algorithm dpmsolver++
// (A1111 "DPM++ 2M") or sde-dpmsolver++ (A1111 "DPM++ 2M SDE"). The model's output is
// converted to a denoised prediction; the first step and the last (down to sigma 0) are of
// first order, the others of second order from the last two predictions. The SDE variant
// shrinks the sample by a further exp(-h), doubles the step's exponent on the prediction, and
// adds fresh noise of deviation sigma_t * sqrt(1 - exp(-2h)).
#pragma once

#include "diffusion/schedulers/multistep.hpp"

namespace sinter::diffusion {

class DpmSolverMultistepScheduler final : public MultistepScheduler {
 public:
  // `stochastic` selects sde-dpmsolver++, which draws step noise (step() then needs a source).
  DpmSolverMultistepScheduler(const SchedulerConfig& config, bool stochastic)
      : MultistepScheduler(config, stochastic ? "DPM++ 2M SDE" : "DPM++ 2M"),
        stochastic_(stochastic) {}
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
  void reset_history() override;

  bool stochastic_;
  std::vector<float> previous_;  // the last denoised prediction
  int lower_order_steps_ = 0;
};

}  // namespace sinter::diffusion
