#include "diffusion/schedulers/multistep.hpp"

#include <stdexcept>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

MultistepScheduler::MultistepScheduler(const SchedulerConfig& config, std::string name)
    : config_(config),
      name_(std::move(name)),
      spacing_(config.timestep_spacing.value_or("linspace")) {
  if (config_.solver_order != 1 && config_.solver_order != 2)
    throw std::invalid_argument(name_ + " supports solver_order 1 or 2, got " +
                                std::to_string(config_.solver_order));
  train_sigmas_ = training_sigmas(alphas_cumprod(config_));
  for (double s : train_sigmas_) log_train_sigmas_.push_back(std::log(s));
}

void MultistepScheduler::set_timesteps(int steps) {
  const MultistepSchedule schedule =
      multistep_schedule(config_, spacing_, steps, train_sigmas_, log_train_sigmas_, name_);
  timesteps_ = schedule.timesteps;
  sigmas_ = schedule.sigmas;
  reset_history();
}

void MultistepScheduler::add_noise(std::vector<float>& original, const std::vector<float>& noise,
                                   std::size_t step) const {
  const NoiseLevel<double> level = noise_level<double>(sigmas_.at(step));
  for (std::size_t i = 0; i < original.size(); ++i)
    original[i] = static_cast<float>(level.alpha * original[i] + level.sigma * noise.at(i));
}

}  // namespace sinter::diffusion
