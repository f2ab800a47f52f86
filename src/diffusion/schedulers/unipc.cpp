#include "diffusion/schedulers/unipc.hpp"

#include <cmath>
#include <stdexcept>

#include "diffusion/schedulers/noise_schedule.hpp"

namespace sinter::diffusion {

namespace {

// The B(h) = e^h - 1 coefficients of orders 1 and 2 for the step of log-SNR change h (with
// hh = -h: the predictions are of x0): b_k = h_phi_k * k! / B(h).
struct Coefficients {
  double h_phi_1, b_h, b1, b2;
};

Coefficients coefficients(double h) {
  const double hh = -h;
  const double h_phi_1 = std::expm1(hh);
  const double b_h = std::expm1(hh);
  double h_phi_k = h_phi_1 / hh - 1;
  const double b1 = h_phi_k * 1 / b_h;
  h_phi_k = h_phi_k / hh - 1.0 / 2;
  const double b2 = h_phi_k * 2 / b_h;
  return {h_phi_1, b_h, b1, b2};
}

}  // namespace

void UniPcScheduler::reset_history() {
  outputs_.clear();
  last_sample_.clear();
  last_order_ = 0;
  lower_order_steps_ = 0;
}

void UniPcScheduler::step(const std::vector<float>& out, std::size_t i, std::vector<float>& x,
                          NoiseSource*) {
  check_step(out, i, x);
  const std::size_t n = x.size();
  const NoiseLevel<double> s_now = noise_level<double>(sigmas_[i]);
  std::vector<float> x0(n);
  const Prediction kind = parse_prediction(config_.prediction_type);
  for (std::size_t k = 0; k < n; ++k)
    x0[k] = static_cast<float>(predicted_x0<double>(kind, out[k], x[k], s_now.alpha, s_now.sigma));

  // Corrector: redo the last step (from last_sample_) with this step's prediction as well.
  if (i > 0 && !last_sample_.empty()) {
    const NoiseLevel<double> t = s_now, s0 = noise_level<double>(sigmas_[i - 1]);
    const std::vector<float>& m0 = outputs_.back();
    const double h = t.lambda - s0.lambda;
    const Coefficients c = coefficients(h);
    double rho_prev = 0, rho_t = 0.5, rk = 0;  // order 1: rho_c = 0.5
    if (last_order_ == 2) {
      // Solve [[1, 1], [rk, 1]] rho = [b1, b2] with rk from the prediction before m0.
      rk = (noise_level<double>(sigmas_[i - 2]).lambda - s0.lambda) / h;
      const double det = 1.0 - rk;
      rho_prev = (c.b1 - c.b2) / det;
      rho_t = (c.b2 - rk * c.b1) / det;
    }
    const double ratio = t.sigma / s0.sigma, decay = t.alpha * c.h_phi_1, scale = t.alpha * c.b_h;
    for (std::size_t k = 0; k < n; ++k) {
      double correction = rho_t * (x0[k] - m0[k]);
      if (last_order_ == 2) correction += rho_prev * (outputs_[0][k] - m0[k]) / rk;
      x[k] = static_cast<float>(ratio * last_sample_[k] - decay * m0[k] - scale * correction);
    }
  }

  outputs_.push_back(x0);
  if (outputs_.size() > 2) outputs_.erase(outputs_.begin());
  int order = config_.solver_order;
  if (config_.lower_order_final) order = std::min(order, static_cast<int>(timesteps_.size() - i));
  order = std::min(order, lower_order_steps_ + 1);
  last_order_ = order;
  last_sample_ = x;

  // Predictor to the next level.
  const float sigma_next = sigmas_[i + 1];
  if (sigma_next == 0.0f) {
    x = outputs_.back();  // alpha 1, sigma 0: the denoised prediction
  } else {
    const NoiseLevel<double> t = noise_level<double>(sigma_next), s0 = s_now;
    const double h = t.lambda - s0.lambda;
    const Coefficients c = coefficients(h);
    const std::vector<float>& m0 = outputs_.back();
    const double ratio = t.sigma / s0.sigma, decay = t.alpha * c.h_phi_1, scale = t.alpha * c.b_h;
    double rk = 0;
    if (order == 2) rk = (noise_level<double>(sigmas_[i - 1]).lambda - s0.lambda) / h;
    for (std::size_t k = 0; k < n; ++k) {
      double value = ratio * x[k] - decay * m0[k];
      if (order == 2) value -= scale * 0.5 * (outputs_[0][k] - m0[k]) / rk;  // rho_p = 0.5
      x[k] = static_cast<float>(value);
    }
  }
  if (lower_order_steps_ < config_.solver_order) ++lower_order_steps_;
}

}  // namespace sinter::diffusion
