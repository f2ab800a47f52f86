#include "diffusion/schedulers/sigma_schedulers.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sinter::diffusion {

SigmaScheduler::SigmaScheduler(const SchedulerConfig& config)
    : config_(config),
      prediction_(parse_prediction(config.prediction_type)),
      spacing_(config.timestep_spacing.value_or("linspace")) {
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

float SigmaScheduler::slope(float out, float sample, float sigma) const {
  // In sigma space the sample is x0 + sigma * noise (the model reads it scaled): the slope is
  // (sample - x0) / sigma, x0 as the prediction type implies it.
  float x0;
  switch (prediction_) {
    case Prediction::epsilon:
      x0 = sample - sigma * out;
      break;
    case Prediction::v_prediction:
      x0 = out * (-sigma / std::sqrt(sigma * sigma + 1.0f)) + sample / (sigma * sigma + 1.0f);
      break;
    default:
      x0 = out;
  }
  return (sample - x0) / sigma;
}

void EulerScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                          NoiseSource*) {
  check_step(out, i, x);
  const float sigma = sigmas_[i], dt = sigmas_[i + 1] - sigma;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const float derivative = slope(out[k], x[k], sigma);
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
    const float derivative = slope(out[k], x[k], from);
    x[k] = x[k] + derivative * dt;
  }
  const std::vector<float> z = noise->randn(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + z[k] * up;
}

void HeunScheduler::set_timesteps(int steps) {
  SigmaScheduler::set_timesteps(steps);
  // sigmas s0, s1, s1, s2, s2, ..., 0 and timesteps t0, t1, t1, t2, t2, ...
  std::vector<float> sigmas = {sigmas_.front()};
  for (std::size_t i = 1; i + 1 < sigmas_.size(); ++i) sigmas.insert(sigmas.end(), 2, sigmas_[i]);
  sigmas.push_back(sigmas_.back());
  std::vector<double> timesteps = {timesteps_.front()};
  for (std::size_t i = 1; i < timesteps_.size(); ++i)
    timesteps.insert(timesteps.end(), 2, timesteps_[i]);
  sigmas_ = std::move(sigmas);
  timesteps_ = std::move(timesteps);
  first_derivative_.clear();
}

void HeunScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                         NoiseSource*) {
  check_step(out, i, x);
  if (first_derivative_.empty()) {  // first order: an Euler step from sigma_i to sigma_i+1
    const float sigma = sigmas_[i], next = sigmas_[i + 1];
    std::vector<float> derivative(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) derivative[k] = slope(out[k], x[k], sigma);
    first_dt_ = next - sigma;
    first_sample_ = x;
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + derivative[k] * first_dt_;
    // To sigma 0 there is no second evaluation.
    if (next != 0.0f) first_derivative_ = std::move(derivative);
    return;
  }
  // Second order: the slope at the end point, averaged with the first, from the start again.
  const float sigma_next = sigmas_[i];
  for (std::size_t k = 0; k < x.size(); ++k) {
    const float end = slope(out[k], x[k], sigma_next);
    const float derivative = (first_derivative_[k] + end) / 2;
    x[k] = first_sample_[k] + derivative * first_dt_;
  }
  first_derivative_.clear();
}

void LmsScheduler::set_timesteps(int steps) {
  SigmaScheduler::set_timesteps(steps);
  derivatives_.clear();
}

double LmsScheduler::coefficient(int order, std::size_t t, int current) const {
  // The integral over [sigma_t, sigma_t+1] of the Lagrange basis polynomial that is 1 at
  // sigma_(t - current) and 0 at the other sigma_(t - k), k < order: a polynomial of degree at
  // most 3, so 4-point Gauss-Legendre quadrature is exact.
  auto basis = [&](double tau) {
    double product = 1;
    for (int k = 0; k < order; ++k) {
      if (k == current) continue;
      product *= (tau - sigmas_[t - k]) / (sigmas_[t - current] - sigmas_[t - k]);
    }
    return product;
  };
  static const double nodes[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                  0.8611363115940526};
  static const double weights[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                    0.3478548451374538};
  const double a = sigmas_[t], b = sigmas_[t + 1];
  double sum = 0;
  for (int k = 0; k < 4; ++k) sum += weights[k] * basis((a + b) / 2 + (b - a) / 2 * nodes[k]);
  return sum * (b - a) / 2;
}

void LmsScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                        NoiseSource*) {
  check_step(out, i, x);
  constexpr int kMaxOrder = 4;
  const float sigma = sigmas_[i];
  std::vector<float> derivative(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) derivative[k] = slope(out[k], x[k], sigma);
  derivatives_.push_back(std::move(derivative));
  if (derivatives_.size() > kMaxOrder) derivatives_.erase(derivatives_.begin());
  const int order = std::min(static_cast<int>(i) + 1, kMaxOrder);
  for (int c = 0; c < order; ++c) {
    const auto coefficient_c = static_cast<float>(coefficient(order, i, c));
    const std::vector<float>& d = derivatives_[derivatives_.size() - 1 - c];
    for (std::size_t k = 0; k < x.size(); ++k) x[k] += coefficient_c * d[k];
  }
}

}  // namespace sinter::diffusion
