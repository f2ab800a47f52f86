// The training noise schedule and the ways samplers pick their steps from it, as diffusers
// computes them: betas and cumulative alphas in float32 (torch), interpolation in float64
// (numpy), timestep spacings, and the Karras / exponential / SGM-uniform sigma schedules.
#pragma once

#include <string>
#include <vector>

#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

// What the model predicts, for a sample x = alpha * x0 + sigma * noise: the noise (epsilon),
// v = alpha * noise - sigma * x0 (v_prediction), or x0 itself (sample).
enum class Prediction { epsilon, v_prediction, sample };
// Throws std::invalid_argument naming the known types.
Prediction parse_prediction(const std::string& name);

// The denoised sample x0 the model's output implies at (alpha, sigma).
template <typename T>
T predicted_x0(Prediction p, T out, T x, T alpha, T sigma) {
  switch (p) {
    case Prediction::epsilon:
      return (x - sigma * out) / alpha;
    case Prediction::v_prediction:
      return alpha * x - sigma * out;
    default:
      return out;
  }
}

// alphas_cumprod of the training schedule, computed in float32 as torch does.
std::vector<float> alphas_cumprod(const SchedulerConfig& c);

// The training timesteps for `steps` inference steps, from the most noisy (float; integral
// for leading and trailing spacing, fractional for linspace).
std::vector<double> spaced_timesteps(const SchedulerConfig& c, const std::string& spacing,
                                     int steps);

// sqrt((1 - a) / a) per training timestep (float32, then widened).
std::vector<double> training_sigmas(const std::vector<float>& alphas_cumprod);

// numpy.interp of the training sigmas at fractional timesteps.
std::vector<double> sigmas_at(const std::vector<double>& train_sigmas,
                              const std::vector<double>& timesteps);

// The fractional training timestep whose log-sigma interpolates to log(sigma) (diffusers'
// _sigma_to_t).
double sigma_to_t(double sigma, const std::vector<double>& log_train_sigmas);

// The schedule of the multistep solvers (DPM-Solver++, UniPC): integer timesteps, steps + 1
// points with timestep 0 dropped for linspace and leading spacing; Karras and exponential
// sigmas span the whole training range; the last sigma 0 (final_sigmas_type zero) or the
// smallest (sigma_min). `who` names the sampler in errors.
struct MultistepSchedule {
  std::vector<double> timesteps;
  std::vector<float> sigmas;  // one more than timesteps
};
MultistepSchedule multistep_schedule(const SchedulerConfig& c, const std::string& spacing,
                                     int steps, const std::vector<double>& train_sigmas,
                                     const std::vector<double>& log_train_sigmas,
                                     const std::string& who);

// Karras et al. (rho = 7) and log-linear schedules between the ends of `sigmas`.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps);
std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, int steps);

}  // namespace sinter::diffusion
