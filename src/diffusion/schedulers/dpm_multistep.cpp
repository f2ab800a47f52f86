#include "diffusion/schedulers/dpm_multistep.hpp"

#include <cmath>
#include <stdexcept>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

void DpmSolverMultistepScheduler::reset_history() {
  previous_.clear();
  lower_order_steps_ = 0;
}

void DpmSolverMultistepScheduler::step(const std::vector<float>& out, std::size_t i,
                                       std::vector<float>& x, NoiseSource*) {
  check_step(out, i, x);
  const NoiseLevel<float> s0 = noise_level<float>(sigmas_[i]);
  // The denoised prediction x0 of this step.
  std::vector<float> x0(x.size());
  const Prediction kind = parse_prediction(config_.prediction_type);
  for (std::size_t k = 0; k < x.size(); ++k)
    x0[k] = predicted_x0(kind, out[k], x[k], s0.alpha, s0.sigma);
  // The step to sigma 0 is always of first order (its log-SNR is infinite); with
  // lower_order_final, so is any last step of a short schedule.
  const bool last = i + 1 == timesteps_.size();
  const bool lower_final =
      last && (sigmas_.back() == 0.0f || (config_.lower_order_final && timesteps_.size() < 15));
  const bool first_order = config_.solver_order == 1 || lower_order_steps_ < 1 || lower_final;
  const float sigma_next = sigmas_[i + 1];
  if (sigma_next == 0.0f) {
    x = x0;  // alpha = 1 and sigma = 0 at the end of the schedule
  } else {
    const NoiseLevel<float> t = noise_level<float>(sigma_next);
    const float h = t.lambda - s0.lambda;
    const float ratio = t.sigma / s0.sigma, decay = t.alpha * (std::exp(-h) - 1.0f);
    if (first_order) {
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = ratio * x[k] - decay * x0[k];
    } else {
      const NoiseLevel<float> s1 = noise_level<float>(sigmas_[i - 1]);
      const float r0 = (s0.lambda - s1.lambda) / h;
      for (std::size_t k = 0; k < x.size(); ++k) {
        const float d1 = (1.0f / r0) * (x0[k] - previous_[k]);
        x[k] = ratio * x[k] - decay * x0[k] - 0.5f * decay * d1;
      }
    }
  }
  previous_ = std::move(x0);
  if (lower_order_steps_ < config_.solver_order) ++lower_order_steps_;
}

}  // namespace sinter::diffusion
