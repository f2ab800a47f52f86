// diffusers' DDIMScheduler (A1111 "DDIM", eta = 0): integer timesteps, the cumulative alphas of
// the training schedule, no noise added.
#pragma once

#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

class DdimScheduler final : public Scheduler {
 public:
  explicit DdimScheduler(const SchedulerConfig& config);
  void set_timesteps(int steps) override;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;
  void add_noise(std::vector<float>& original, const std::vector<float>& noise,
                 std::size_t step) const override;

 private:
  SchedulerConfig config_;
  std::string spacing_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
  int steps_ = 0;
};

}  // namespace sinter::diffusion
