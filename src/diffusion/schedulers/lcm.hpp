// diffusers' LCMScheduler (A1111 "LCM"), for latent consistency models: timesteps picked from
// a 50-step skipping schedule of the training range; each step the model's consistency
// function (c_skip * x + c_out * x0) and, but for the last, fresh noise to the next timestep.
#pragma once

#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

class LcmScheduler final : public Scheduler {
 public:
  explicit LcmScheduler(const SchedulerConfig& config);
  void set_timesteps(int steps) override;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;
  void add_noise(std::vector<float>& original, const std::vector<float>& noise,
                 std::size_t step) const override;

 private:
  SchedulerConfig config_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
};

}  // namespace sinter::diffusion
