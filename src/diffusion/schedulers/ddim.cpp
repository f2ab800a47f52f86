#include "diffusion/schedulers/ddim.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

DdimScheduler::DdimScheduler(const SchedulerConfig& config)
    : DiscreteScheduler(config, true), spacing_(config.timestep_spacing.value_or("leading")) {}

void DdimScheduler::set_timesteps(int steps) {
  if (config_.sigma_schedule != "normal")
    throw std::invalid_argument("DDIM takes only the normal schedule, not '" +
                                config_.sigma_schedule + "'");
  timesteps_ = spaced_timesteps(config_, spacing_, steps);
  if (spacing_ == "linspace")  // DDIM rounds them to whole timesteps
    for (double& t : timesteps_) t = std::nearbyint(t);
  steps_ = steps;
}

void DdimScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                         NoiseSource*) {
  check_step(out, i, x);
  const auto t = static_cast<int64_t>(timesteps_[i]);
  const int64_t prev = t - config_.num_train_timesteps / steps_;
  const float a_t = alpha_cumprod(t), a_prev = alpha_cumprod(prev);
  const float b_t = 1.0f - a_t;
  const float sqrt_a = std::sqrt(a_t), sqrt_b = std::sqrt(b_t);
  const float sqrt_a_prev = std::sqrt(a_prev), direction = std::sqrt(1.0f - a_prev);
  const float range = static_cast<float>(config_.clip_sample_range);
  const Prediction kind = parse_prediction(config_.prediction_type);
  for (std::size_t k = 0; k < x.size(); ++k) {
    float x0 = predicted_x0(kind, out[k], x[k], sqrt_a, sqrt_b);
    // The noise the step moves along: predicted, or implied by the prediction.
    const float eps = kind == Prediction::epsilon        ? out[k]
                      : kind == Prediction::v_prediction ? sqrt_a * out[k] + sqrt_b * x[k]
                                                         : (x[k] - sqrt_a * x0) / sqrt_b;
    if (config_.clip_sample) x0 = std::clamp(x0, -range, range);
    x[k] = sqrt_a_prev * x0 + direction * eps;
  }
}

}  // namespace sinter::diffusion
