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
                                       std::vector<float>& x, NoiseSource* noise) {
  check_step(out, i, x);
  if (stochastic_ && !noise) throw std::invalid_argument(name_ + " needs a noise source");
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
    // ODE: x_t = (sigma_t / sigma_s) x - alpha_t (e^-h - 1) D;
    // SDE: x_t = (sigma_t / sigma_s) e^-h x + alpha_t (1 - e^-2h) D + sigma_t sqrt(1 - e^-2h) z,
    // with D = x0 (first order) or x0 + D1 / 2 (second order, midpoint).
    const float ratio = stochastic_ ? t.sigma / s0.sigma * std::exp(-h) : t.sigma / s0.sigma;
    const float gain =
        stochastic_ ? t.alpha * (1.0f - std::exp(-2.0f * h)) : -t.alpha * (std::exp(-h) - 1.0f);
    float d1_weight = 0;  // D1 = d1_weight * (x0 - previous prediction)
    if (!first_order) {
      const NoiseLevel<float> s1 = noise_level<float>(sigmas_[i - 1]);
      d1_weight = 1.0f / ((s0.lambda - s1.lambda) / h);
    }
    for (std::size_t k = 0; k < x.size(); ++k) {
      const float d1 = first_order ? 0.0f : d1_weight * (x0[k] - previous_[k]);
      x[k] = ratio * x[k] + gain * x0[k] + 0.5f * gain * d1;
    }
    if (stochastic_) {
      const float deviation = t.sigma * std::sqrt(1.0f - std::exp(-2.0f * h));
      const std::vector<float> z = noise->randn(x.size());
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += deviation * z[k];
    }
  }
  previous_ = std::move(x0);
  if (lower_order_steps_ < config_.solver_order) ++lower_order_steps_;
}

}  // namespace sinter::diffusion
