#include "diffusion/schedulers/pndm.hpp"

#include <cmath>
#include <stdexcept>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

PndmScheduler::PndmScheduler(const SchedulerConfig& config) : DiscreteScheduler(config, false) {}

void PndmScheduler::set_timesteps(int steps) {
  if (config_.sigma_schedule != "normal")
    throw std::invalid_argument("PNDM takes only the normal schedule, not '" +
                                config_.sigma_schedule + "'");
  const int n = config_.num_train_timesteps;
  if (steps < 4 || steps > n)
    throw std::invalid_argument("PNDM takes 4.." + std::to_string(n) + " steps, got " +
                                std::to_string(steps));
  ratio_ = n / steps;
  std::vector<int64_t> base;  // 0, r, 2r, ... plus steps_offset
  for (int i = 0; i < steps; ++i) base.push_back(int64_t{i} * ratio_ + config_.steps_offset);
  timesteps_.clear();
  if (config_.skip_prk_steps) {
    // base[:-1], base[-2], base[-1], reversed: the first timestep twice.
    std::vector<int64_t> t(base.begin(), base.end() - 1);
    t.push_back(base[base.size() - 2]);
    t.push_back(base.back());
    for (auto it = t.rbegin(); it != t.rend(); ++it) timesteps_.push_back(static_cast<double>(*it));
    prk_count_ = 0;
  } else {
    // The last four base timesteps each with its half-step, every one but the ends twice.
    std::vector<int64_t> pairs;
    for (std::size_t k = base.size() - 4; k < base.size(); ++k) {
      pairs.push_back(base[k]);
      pairs.push_back(base[k] + n / steps / 2);
    }
    pairs.pop_back();
    std::vector<int64_t> doubled;
    for (int64_t v : pairs) doubled.insert(doubled.end(), 2, v);
    std::vector<int64_t> prk(doubled.begin() + 1, doubled.end() - 1);
    for (auto it = prk.rbegin(); it != prk.rend(); ++it)
      timesteps_.push_back(static_cast<double>(*it));
    prk_count_ = prk.size();
    for (std::size_t k = base.size() - 3; k-- > 0;)
      timesteps_.push_back(static_cast<double>(base[k]));
  }
  counter_ = 0;
  ets_.clear();
  cur_model_output_.clear();
  cur_sample_.clear();
}

void PndmScheduler::transfer(const std::vector<float>& from, int64_t t, int64_t prev,
                             const std::vector<float>& e, std::vector<float>& to) const {
  const float a_t = alpha_cumprod(t), a_prev = alpha_cumprod(prev);
  const float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
  const float sample_coeff = std::sqrt(a_prev / a_t);
  const float denominator = a_t * std::sqrt(b_prev) + std::sqrt(a_t * b_t * a_prev);
  const bool v = config_.prediction_type == "v_prediction";
  if (!v && config_.prediction_type != "epsilon")
    throw std::invalid_argument("PNDM takes prediction_type epsilon or v_prediction, not '" +
                                config_.prediction_type + "'");
  std::vector<float> result(from.size());
  for (std::size_t k = 0; k < from.size(); ++k) {
    const float eps = v ? std::sqrt(a_t) * e[k] + std::sqrt(b_t) * from[k] : e[k];
    result[k] = sample_coeff * from[k] - (a_prev - a_t) * eps / denominator;
  }
  to = std::move(result);
}

void PndmScheduler::step_prk(const std::vector<float>& out, std::vector<float>& x) {
  // Stage counter_ % 4 of a Runge-Kutta step: weights 1/6, 1/3, 1/3, 1/6 of the predictions.
  const int64_t t_now = static_cast<int64_t>(timesteps_[counter_]);
  const int64_t prev = t_now - (counter_ % 2 ? 0 : ratio_ / 2);
  const auto t = static_cast<int64_t>(timesteps_[counter_ / 4 * 4]);
  if (cur_model_output_.empty()) cur_model_output_.assign(out.size(), 0.0f);
  std::vector<float> e = out;
  switch (counter_ % 4) {
    case 0:
      for (std::size_t k = 0; k < out.size(); ++k) cur_model_output_[k] += 1.0f / 6 * out[k];
      ets_.push_back(out);
      cur_sample_ = x;
      break;
    case 1:
    case 2:
      for (std::size_t k = 0; k < out.size(); ++k) cur_model_output_[k] += 1.0f / 3 * out[k];
      break;
    default:
      for (std::size_t k = 0; k < out.size(); ++k) e[k] = cur_model_output_[k] + 1.0f / 6 * out[k];
      cur_model_output_.assign(out.size(), 0.0f);
  }
  transfer(cur_sample_.empty() ? x : cur_sample_, t, prev, e, x);
}

void PndmScheduler::step_plms(const std::vector<float>& out, int64_t t, std::vector<float>& x) {
  int64_t prev = t - ratio_;
  if (counter_ != 1) {
    ets_.push_back(out);
  } else {  // the warm-up's second call, at the same timestep as the first
    prev = t;
    t = t + ratio_;
  }
  std::vector<float> e(out.size());
  std::vector<float> from = x;
  const std::size_t n = ets_.size();
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (n == 1 && counter_ == 0) {
      e[k] = out[k];
    } else if (n == 1 && counter_ == 1) {
      e[k] = (out[k] + ets_[0][k]) / 2;
      from[k] = cur_sample_[k];
    } else if (n == 2) {
      e[k] = (3 * ets_[1][k] - ets_[0][k]) / 2;
    } else if (n == 3) {
      e[k] = (23 * ets_[2][k] - 16 * ets_[1][k] + 5 * ets_[0][k]) / 12;
    } else {
      e[k] = (1.0f / 24) *
             (55 * ets_[n - 1][k] - 59 * ets_[n - 2][k] + 37 * ets_[n - 3][k] - 9 * ets_[n - 4][k]);
    }
  }
  if (n == 1 && counter_ == 0) cur_sample_ = x;
  if (n == 1 && counter_ == 1) cur_sample_.clear();
  transfer(from, t, prev, e, x);
}

void PndmScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                         NoiseSource*) {
  check_step(out, i, x);
  if (counter_ < prk_count_)
    step_prk(out, x);
  else
    step_plms(out, static_cast<int64_t>(timesteps_[i]), x);
  if (ets_.size() > 4) ets_.erase(ets_.begin());
  ++counter_;
}

}  // namespace sinter::diffusion
