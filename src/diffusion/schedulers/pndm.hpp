// diffusers' PNDMScheduler (the default of Stable Diffusion 1.x's scheduler_config.json):
// pseudo-numerical methods on the DDIM transfer of formula (9) of the PNDM paper — four
// Runge-Kutta stages for the first three steps (PRK), then linear multistep (PLMS) over the
// last four noise predictions; with skip_prk_steps (SD's setting) PLMS from the start, its
// second model call at the first timestep again (a Heun-like warm-up).
#pragma once

#include "diffusion/schedulers/discrete.hpp"

namespace sinter::diffusion {

class PndmScheduler final : public DiscreteScheduler {
 public:
  explicit PndmScheduler(const SchedulerConfig& config);
  void set_timesteps(int steps) override;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
  void step_prk(const std::vector<float>& out, std::vector<float>& x);
  void step_plms(const std::vector<float>& out, int64_t timestep, std::vector<float>& x);
  // x_(t - delta) from x_t and the noise prediction e (formula (9)).
  void transfer(const std::vector<float>& from, int64_t t, int64_t prev,
                const std::vector<float>& e, std::vector<float>& to) const;

  int ratio_ = 0;              // num_train_timesteps / steps
  std::size_t prk_count_ = 0;  // the first prk_count_ timesteps are Runge-Kutta stages
  std::size_t counter_ = 0;
  std::vector<std::vector<float>> ets_;  // past noise predictions, newest last
  std::vector<float> cur_model_output_, cur_sample_;
};

}  // namespace sinter::diffusion
