// What the samplers on integer training timesteps (DDIM, LCM, PNDM) share: the cumulative
// alphas, the alpha "before" timestep 0 (1 with set_alpha_to_one, else the first), and
// add_noise as DDPM defines it.
#pragma once

#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

class DiscreteScheduler : public Scheduler {
 public:
  // `alpha_to_one_by_default`: the sampler's diffusers default for set_alpha_to_one.
  DiscreteScheduler(const SchedulerConfig& config, bool alpha_to_one_by_default);
  // sqrt(alpha_t) * x + sqrt(1 - alpha_t) * noise at the timestep of step i.
  void add_noise(std::vector<float>& original, const std::vector<float>& noise,
                 std::size_t step) const override;

 protected:
  // The cumulative alpha at training timestep t; for t < 0 the final one.
  float alpha_cumprod(int64_t t) const;

  SchedulerConfig config_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
};

}  // namespace sinter::diffusion
