#include "diffusion/schedulers/sigma_schedulers.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sinter::diffusion {

SigmaScheduler::SigmaScheduler(const SchedulerConfig& config)
    : config_(config), spacing_(config.timestep_spacing.value_or("linspace")) {
  train_sigmas_ = training_sigmas(alphas_cumprod(config_));
  for (double s : train_sigmas_) log_train_sigmas_.push_back(std::log(s));
}

void SigmaScheduler::set_timesteps(int steps) {
  timesteps_ = spaced_timesteps(config_, spacing_, steps);
  std::vector<double> sigmas = sigmas_at(train_sigmas_, timesteps_);
  const std::string& schedule = config_.sigma_schedule;
  if (schedule == "karras" || schedule == "exponential") {
    sigmas = schedule == "karras" ? karras_sigmas(sigmas.back(), sigmas.front(), steps)
                                  : exponential_sigmas(sigmas.back(), sigmas.front(), steps);
    for (std::size_t i = 0; i < sigmas.size(); ++i)
      timesteps_[i] = sigma_to_t(sigmas[i], log_train_sigmas_);
  } else if (schedule == "sgm_uniform") {
    // Timesteps evenly spaced between those of the largest and smallest sigma, steps + 1 of
    // them with the last dropped (SGM's "uniform" as A1111 has it).
    const double first = sigma_to_t(sigmas.front(), log_train_sigmas_);
    const double last = sigma_to_t(sigmas.back(), log_train_sigmas_);
    for (int i = 0; i < steps; ++i) timesteps_[i] = first + (last - first) * i / steps;
    std::vector<double> logs = sigmas_at(log_train_sigmas_, timesteps_);
    for (std::size_t i = 0; i < logs.size(); ++i) sigmas[i] = std::exp(logs[i]);
  } else if (schedule != "normal") {
    throw std::invalid_argument("unknown schedule '" + schedule +
                                "' (known: normal, karras, exponential, sgm_uniform)");
  }
  sigmas_.assign(sigmas.begin(), sigmas.end());
  sigmas_.push_back(0.0f);
}

double SigmaScheduler::init_noise_sigma() const {
  if (sigmas_.empty()) throw std::logic_error("set_timesteps was not called");
  const float max_sigma = *std::max_element(sigmas_.begin(), sigmas_.end());
  if (spacing_ == "linspace" || spacing_ == "trailing") return max_sigma;
  return std::sqrt(max_sigma * max_sigma + 1.0f);
}

double SigmaScheduler::input_scale(std::size_t step) const {
  const float sigma = sigmas_.at(step);
  return 1.0f / std::sqrt(sigma * sigma + 1.0f);
}

void SigmaScheduler::add_noise(std::vector<float>& original, const std::vector<float>& noise,
                               std::size_t step) const {
  const float sigma = sigmas_.at(step);
  for (std::size_t i = 0; i < original.size(); ++i) original[i] += noise.at(i) * sigma;
}

float SigmaScheduler::predicted_original(float out, float sample, float sigma) const {
  if (config_.prediction_type == "epsilon") return sample - sigma * out;
  if (config_.prediction_type == "v_prediction")
    return out * (-sigma / std::sqrt(sigma * sigma + 1.0f)) + sample / (sigma * sigma + 1.0f);
  if (config_.prediction_type == "sample") return out;
  throw std::invalid_argument("unknown prediction_type '" + config_.prediction_type +
                              "' (known: epsilon, v_prediction, sample)");
}

void SigmaScheduler::check_step(const std::vector<float>& out, std::size_t step,
                                const std::vector<float>& sample) const {
  if (step + 1 >= sigmas_.size()) throw std::out_of_range("step past the last timestep");
  if (out.size() != sample.size())
    throw std::invalid_argument("model output and sample differ in size");
}

void EulerScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                          NoiseSource*) {
  check_step(out, i, x);
  const float sigma = sigmas_[i], dt = sigmas_[i + 1] - sigma;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const float derivative = (x[k] - predicted_original(out[k], x[k], sigma)) / sigma;
    x[k] = x[k] + derivative * dt;
  }
}

void EulerAncestralScheduler::step(const std::vector<float>& out, std::size_t i,
                                   std::vector<float>& x, NoiseSource* noise) {
  check_step(out, i, x);
  if (!noise) throw std::invalid_argument("Euler a needs a noise source");
  const float from = sigmas_[i], to = sigmas_[i + 1];
  const float up = std::sqrt(to * to * (from * from - to * to) / (from * from));
  const float down = std::sqrt(to * to - up * up);
  const float dt = down - from;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const float derivative = (x[k] - predicted_original(out[k], x[k], from)) / from;
    x[k] = x[k] + derivative * dt;
  }
  const std::vector<float> z = noise->randn(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + z[k] * up;
}

}  // namespace sinter::diffusion
