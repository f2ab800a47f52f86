#include "diffusion/schedulers/discrete.hpp"

#include <cmath>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

DiscreteScheduler::DiscreteScheduler(const SchedulerConfig& config, bool alpha_to_one_by_default)
    : config_(config),
      alphas_cumprod_(sinter::diffusion::alphas_cumprod(config)),
      final_alpha_cumprod_(config.set_alpha_to_one.value_or(alpha_to_one_by_default)
                               ? 1.0f
                               : alphas_cumprod_.front()) {}

float DiscreteScheduler::alpha_cumprod(int64_t t) const {
  return t >= 0 ? alphas_cumprod_.at(static_cast<std::size_t>(t)) : final_alpha_cumprod_;
}

void DiscreteScheduler::add_noise(std::vector<float>& original, const std::vector<float>& noise,
                                  std::size_t step) const {
  const float a = alpha_cumprod(static_cast<int64_t>(timesteps_.at(step)));
  const float s = std::sqrt(a), n = std::sqrt(1.0f - a);
  for (std::size_t i = 0; i < original.size(); ++i) original[i] = s * original[i] + n * noise.at(i);
}

}  // namespace sinter::diffusion
