// diffusers' LCMScheduler (A1111 "LCM"), for latent consistency models: timesteps picked from
// a 50-step skipping schedule of the training range; each step the model's consistency
// function (c_skip * x + c_out * x0) and, but for the last, fresh noise to the next timestep.
#pragma once

#include "diffusion/schedulers/discrete.hpp"

namespace sinter::diffusion {

class LcmScheduler final : public DiscreteScheduler {
 public:
  explicit LcmScheduler(const SchedulerConfig& config);
  void set_timesteps(int steps) override;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
};

}  // namespace sinter::diffusion
