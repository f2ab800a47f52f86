// diffusers' DDIMScheduler (A1111 "DDIM", eta = 0): integer timesteps, the cumulative alphas of
// the training schedule, no noise added.
#pragma once

#include "diffusion/schedulers/discrete.hpp"

namespace sinter::diffusion {

class DdimScheduler final : public DiscreteScheduler {
 public:
  explicit DdimScheduler(const SchedulerConfig& config);
  void set_timesteps(int steps) override;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
  std::string spacing_;
  int steps_ = 0;
};

}  // namespace sinter::diffusion
