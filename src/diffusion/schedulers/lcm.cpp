#include "diffusion/schedulers/lcm.hpp"

#include <cmath>
#include <stdexcept>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

namespace {

constexpr int kOriginalSteps = 50;         // the schedule LCMs are distilled on
constexpr double kTimestepScaling = 10.0;  // boundary-condition scaling of the timestep
constexpr double kSigmaData = 0.5;

}  // namespace

LcmScheduler::LcmScheduler(const SchedulerConfig& config) : DiscreteScheduler(config, true) {}

void LcmScheduler::set_timesteps(int steps) {
  if (config_.sigma_schedule != "normal")
    throw std::invalid_argument("LCM takes only the normal schedule, not '" +
                                config_.sigma_schedule + "'");
  const int n = config_.num_train_timesteps, k = n / kOriginalSteps;
  if (steps < 1 || steps > kOriginalSteps)
    throw std::invalid_argument("LCM takes 1.." + std::to_string(kOriginalSteps) + " steps, got " +
                                std::to_string(steps));
  // The origin schedule k - 1, 2k - 1, ..., most noisy first; `steps` of them evenly indexed.
  std::vector<int> origin;
  for (int i = kOriginalSteps; i >= 1; --i) origin.push_back(i * k - 1);
  timesteps_.clear();
  for (int i = 0; i < steps; ++i) {
    const auto index = static_cast<std::size_t>(std::floor(1.0 * i * kOriginalSteps / steps));
    timesteps_.push_back(origin[index]);
  }
}

void LcmScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                        NoiseSource* noise) {
  check_step(out, i, x);
  const bool last = i + 1 == timesteps_.size();
  if (!last && !noise) throw std::invalid_argument("LCM needs a noise source");
  const auto t = static_cast<int64_t>(timesteps_[i]);
  const int64_t prev = last ? t : static_cast<int64_t>(timesteps_[i + 1]);
  const float a_t = alpha_cumprod(t), a_prev = alpha_cumprod(prev);
  const float sqrt_a = std::sqrt(a_t), sqrt_b = std::sqrt(1.0f - a_t);
  const double scaled = t * kTimestepScaling;
  const auto c_skip =
      static_cast<float>(kSigmaData * kSigmaData / (scaled * scaled + kSigmaData * kSigmaData));
  const auto c_out =
      static_cast<float>(scaled / std::sqrt(scaled * scaled + kSigmaData * kSigmaData));
  const Prediction kind = parse_prediction(config_.prediction_type);
  for (std::size_t k = 0; k < x.size(); ++k)  // the denoised sample
    x[k] = c_out * predicted_x0(kind, out[k], x[k], sqrt_a, sqrt_b) + c_skip * x[k];
  if (last) return;
  const std::vector<float> z = noise->randn(x.size());
  const float s = std::sqrt(a_prev), n = std::sqrt(1.0f - a_prev);
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = s * x[k] + n * z[k];
}

}  // namespace sinter::diffusion
