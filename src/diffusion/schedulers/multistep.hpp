// What the data-prediction multistep solvers (DPM-Solver++, UniPC) share: diffusers'
// multistep schedule (integer timesteps, sigmas with a final 0 or smallest sigma), add_noise
// at a schedule sigma, and the (alpha, sigma, log-SNR) of a noise level.
#pragma once

#include <cmath>
#include <string>

#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

// A noise level sigma in the variance-preserving form x = alpha * x0 + sigma_t * noise, with
// lambda = log(alpha / sigma_t), the half log-SNR (in float for DPM-Solver, double for UniPC,
// as diffusers' tensors are).
template <typename T>
struct NoiseLevel {
  T alpha, sigma, lambda;
};

template <typename T>
NoiseLevel<T> noise_level(T sigma) {
  const T alpha = T(1) / std::sqrt(sigma * sigma + T(1));
  const T s = sigma * alpha;
  return {alpha, s, std::log(alpha) - std::log(s)};
}

class MultistepScheduler : public Scheduler {
 public:
  // `name` is the sampler's, for errors; solver_order must be 1 or 2.
  MultistepScheduler(const SchedulerConfig& config, std::string name);
  void set_timesteps(int steps) override;
  void add_noise(std::vector<float>& original, const std::vector<float>& noise,
                 std::size_t step) const override;

 protected:
  // Forgets the previous steps' predictions (a new schedule starts).
  virtual void reset_history() = 0;

  SchedulerConfig config_;
  std::string name_, spacing_;
  std::vector<double> train_sigmas_, log_train_sigmas_;
  std::vector<float> sigmas_;
};

}  // namespace sinter::diffusion
