#include "diffusion/schedulers/noise_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace sinter::diffusion {

namespace {

// torch.linspace(start, end, n) in float32: the first half counted from the start, the second
// from the end.
std::vector<float> linspace_f32(double start, double end, int n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  if (n == 1) {
    v[0] = static_cast<float>(start);
    return v;
  }
  const float step = static_cast<float>((end - start) / (n - 1));
  const int half = n / 2;
  for (int i = 0; i < n; ++i)
    v[i] = i < half ? static_cast<float>(start) + step * static_cast<float>(i)
                    : static_cast<float>(end) - step * static_cast<float>(n - 1 - i);
  return v;
}

double cosine_alpha_bar(double t) {
  const double c = std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2);
  return c * c;
}

}  // namespace

Prediction parse_prediction(const std::string& name) {
  if (name == "epsilon") return Prediction::epsilon;
  if (name == "v_prediction") return Prediction::v_prediction;
  if (name == "sample") return Prediction::sample;
  throw std::invalid_argument("unknown prediction_type '" + name +
                              "' (known: epsilon, v_prediction, sample)");
}

std::vector<float> alphas_cumprod(const SchedulerConfig& c) {
  const int n = c.num_train_timesteps;
  if (n < 2) throw std::invalid_argument("num_train_timesteps must be at least 2");
  std::vector<float> betas;
  if (c.beta_schedule == "linear") {
    betas = linspace_f32(c.beta_start, c.beta_end, n);
  } else if (c.beta_schedule == "scaled_linear") {
    betas = linspace_f32(std::sqrt(c.beta_start), std::sqrt(c.beta_end), n);
    for (float& b : betas) b = b * b;
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    for (int i = 0; i < n; ++i) {
      const double b = 1.0 - cosine_alpha_bar((i + 1.0) / n) / cosine_alpha_bar(1.0 * i / n);
      betas.push_back(static_cast<float>(std::min(b, 0.999)));
    }
  } else {
    throw std::invalid_argument("unknown beta_schedule '" + c.beta_schedule +
                                "' (known: linear, scaled_linear, squaredcos_cap_v2)");
  }
  std::vector<float> cumprod(betas.size());
  float running = 1.0f;
  for (std::size_t i = 0; i < betas.size(); ++i) cumprod[i] = running *= 1.0f - betas[i];
  return cumprod;
}

std::vector<double> spaced_timesteps(const SchedulerConfig& c, const std::string& spacing,
                                     int steps) {
  if (steps < 1 || steps > c.num_train_timesteps)
    throw std::invalid_argument("steps must be 1.." + std::to_string(c.num_train_timesteps) +
                                ", got " + std::to_string(steps));
  const int n = c.num_train_timesteps;
  std::vector<double> t;
  if (spacing == "linspace") {
    // numpy.linspace(0, n - 1, steps, dtype=float32), most noisy first.
    const double step = steps == 1 ? 0.0 : (n - 1.0) / (steps - 1);
    for (int i = steps - 1; i >= 0; --i)
      t.push_back(static_cast<float>(i == steps - 1 && steps > 1 ? n - 1.0 : i * step));
  } else if (spacing == "leading") {
    const int ratio = n / steps;
    for (int i = steps - 1; i >= 0; --i) t.push_back(1.0 * i * ratio + c.steps_offset);
  } else if (spacing == "trailing") {
    // numpy.arange(n, 0, -n / steps).round() - 1: element i is n - i * ratio.
    const double ratio = 1.0 * n / steps;
    for (int i = 0; i < steps; ++i) t.push_back(std::nearbyint(n - i * ratio) - 1);
  } else {
    throw std::invalid_argument("unknown timestep_spacing '" + spacing +
                                "' (known: leading, linspace, trailing)");
  }
  return t;
}

std::vector<double> training_sigmas(const std::vector<float>& ac) {
  std::vector<double> s(ac.size());
  for (std::size_t i = 0; i < ac.size(); ++i) s[i] = std::sqrt((1.0f - ac[i]) / ac[i]);
  return s;
}

std::vector<double> sigmas_at(const std::vector<double>& train, const std::vector<double>& ts) {
  std::vector<double> out;
  for (double t : ts) {
    if (t <= 0) {
      out.push_back(train.front());
      continue;
    }
    if (t >= static_cast<double>(train.size() - 1)) {
      out.push_back(train.back());
      continue;
    }
    const auto low = static_cast<std::size_t>(std::floor(t));
    const double w = t - static_cast<double>(low);
    out.push_back(train[low] + w * (train[low + 1] - train[low]));
  }
  return out;
}

double sigma_to_t(double sigma, const std::vector<double>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  // The last training timestep whose log-sigma is at most log_sigma, kept below the end.
  std::size_t low = 0;
  for (std::size_t i = 0; i < log_sigmas.size(); ++i)
    if (log_sigma - log_sigmas[i] >= 0) low = i;
  low = std::min(low, log_sigmas.size() - 2);
  const double lo = log_sigmas[low], hi = log_sigmas[low + 1];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

MultistepSchedule multistep_schedule(const SchedulerConfig& c, const std::string& spacing,
                                     int steps, const std::vector<double>& train,
                                     const std::vector<double>& log_train, const std::string& who) {
  const int n = c.num_train_timesteps;
  if (steps < 1 || steps > n)
    throw std::invalid_argument("steps must be 1.." + std::to_string(n) + ", got " +
                                std::to_string(steps));
  MultistepSchedule s;
  if (spacing == "linspace") {
    // numpy.linspace(0, n - 1, steps + 1): i * step, the last exactly n - 1.
    const double step = (n - 1.0) / steps;
    for (int i = steps; i >= 1; --i)
      s.timesteps.push_back(std::nearbyint(i == steps ? n - 1.0 : i * step));
  } else if (spacing == "leading") {
    const int ratio = n / (steps + 1);
    for (int i = steps; i >= 1; --i) s.timesteps.push_back(1.0 * i * ratio + c.steps_offset);
  } else {
    s.timesteps = spaced_timesteps(c, spacing, steps);
  }
  std::vector<double> sigmas = sigmas_at(train, s.timesteps);
  double last = train.front();  // sigma_min: the smallest training sigma
  if (c.sigma_schedule == "karras" || c.sigma_schedule == "exponential") {
    sigmas = c.sigma_schedule == "karras" ? karras_sigmas(train.front(), train.back(), steps)
                                          : exponential_sigmas(train.front(), train.back(), steps);
    for (std::size_t i = 0; i < sigmas.size(); ++i)
      s.timesteps[i] = std::nearbyint(sigma_to_t(sigmas[i], log_train));
    last = sigmas.back();
  } else if (c.sigma_schedule != "normal") {
    throw std::invalid_argument(who + " takes the schedules normal, karras and exponential, not '" +
                                c.sigma_schedule + "'");
  }
  s.sigmas.assign(sigmas.begin(), sigmas.end());
  // The level the last step goes to: 0 (a fully denoised sample, as k-diffusion and A1111 end)
  // or the smallest sigma (diffusers' final_sigmas_type sigma_min).
  if (c.final_sigmas_type == "zero")
    s.sigmas.push_back(0.0f);
  else if (c.final_sigmas_type == "sigma_min")
    s.sigmas.push_back(static_cast<float>(last));
  else
    throw std::invalid_argument("unknown final_sigmas_type '" + c.final_sigmas_type +
                                "' (known: zero, sigma_min)");
  return s;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
  constexpr double rho = 7.0;
  const double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
  std::vector<double> s;
  for (int i = 0; i < steps; ++i) {
    const double ramp = steps == 1 ? 0.0 : 1.0 * i / (steps - 1);
    s.push_back(std::pow(max_inv + ramp * (min_inv - max_inv), rho));
  }
  return s;
}

std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, int steps) {
  std::vector<double> s;
  for (int i = 0; i < steps; ++i) {
    const double ramp = steps == 1 ? 0.0 : 1.0 * i / (steps - 1);
    s.push_back(std::exp(std::log(sigma_max) + ramp * (std::log(sigma_min) - std::log(sigma_max))));
  }
  return s;
}

}  // namespace sinter::diffusion
