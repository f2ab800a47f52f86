// diffusers' DPMSolverMultistepScheduler with algorithm dpmsolver++ and the midpoint solver
// (A1111 "DPM++ 2M"): the model's output converted to a denoised prediction, the first step
// and the last (down to sigma 0) of first order, the others of second order from the last two
// predictions.
#pragma once

#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

class DpmSolverMultistepScheduler final : public Scheduler {
 public:
  explicit DpmSolverMultistepScheduler(const SchedulerConfig& config);
  void set_timesteps(int steps) override;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;
  void add_noise(std::vector<float>& original, const std::vector<float>& noise,
                 std::size_t step) const override;

 private:
  SchedulerConfig config_;
  std::string spacing_;
  std::vector<double> train_sigmas_, log_train_sigmas_;
  std::vector<float> sigmas_;
  std::vector<float> previous_;  // the last denoised prediction
  int lower_order_steps_ = 0;
};

}  // namespace sinter::diffusion
