#include "diffusion/schedulers/dpm_multistep.hpp"

#include <cmath>
#include <stdexcept>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

namespace {

struct AlphaSigma {
  float alpha, sigma, lambda;  // lambda = log(alpha / sigma), the half log-SNR
};

AlphaSigma alpha_sigma(float sigma) {
  const float alpha = 1.0f / std::sqrt(sigma * sigma + 1.0f);
  const float s = sigma * alpha;
  return {alpha, s, std::log(alpha) - std::log(s)};
}

}  // namespace

DpmSolverMultistepScheduler::DpmSolverMultistepScheduler(const SchedulerConfig& config)
    : config_(config), spacing_(config.timestep_spacing.value_or("linspace")) {
  if (config_.solver_order != 1 && config_.solver_order != 2)
    throw std::invalid_argument("DPM++ multistep supports solver_order 1 or 2, got " +
                                std::to_string(config_.solver_order));
  train_sigmas_ = training_sigmas(alphas_cumprod(config_));
  for (double s : train_sigmas_) log_train_sigmas_.push_back(std::log(s));
}

void DpmSolverMultistepScheduler::set_timesteps(int steps) {
  const MultistepSchedule schedule =
      multistep_schedule(config_, spacing_, steps, train_sigmas_, log_train_sigmas_, "DPM++ 2M");
  timesteps_ = schedule.timesteps;
  sigmas_ = schedule.sigmas;
  previous_.clear();
  lower_order_steps_ = 0;
}

void DpmSolverMultistepScheduler::step(const std::vector<float>& out, std::size_t i,
                                       std::vector<float>& x, NoiseSource*) {
  check_step(out, i, x);
  const AlphaSigma s0 = alpha_sigma(sigmas_[i]);
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
    const AlphaSigma t = alpha_sigma(sigma_next);
    const float h = t.lambda - s0.lambda;
    const float ratio = t.sigma / s0.sigma, decay = t.alpha * (std::exp(-h) - 1.0f);
    if (first_order) {
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = ratio * x[k] - decay * x0[k];
    } else {
      const AlphaSigma s1 = alpha_sigma(sigmas_[i - 1]);
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

void DpmSolverMultistepScheduler::add_noise(std::vector<float>& original,
                                            const std::vector<float>& noise,
                                            std::size_t step) const {
  const AlphaSigma s = alpha_sigma(sigmas_.at(step));
  for (std::size_t i = 0; i < original.size(); ++i)
    original[i] = s.alpha * original[i] + s.sigma * noise.at(i);
}

}  // namespace sinter::diffusion
