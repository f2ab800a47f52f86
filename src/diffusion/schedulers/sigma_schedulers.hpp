// The samplers that work on the noise level sigma of k-diffusion's formulation (diffusers'
// EulerDiscreteScheduler family): the sample at step i is x0 + sigma_i * noise, and the model
// reads it scaled to unit variance.
#pragma once

#include "diffusion/schedulers/noise_schedule.hpp"
#include "diffusion/schedulers/scheduler.hpp"

namespace sinter::diffusion {

class SigmaScheduler : public Scheduler {
 public:
  explicit SigmaScheduler(const SchedulerConfig& config);
  void set_timesteps(int steps) override;
  double init_noise_sigma() const override;
  double input_scale(std::size_t step) const override;
  void add_noise(std::vector<float>& original, const std::vector<float>& noise,
                 std::size_t step) const override;
  // sigma of each step, and 0 after the last (float32, as diffusers keeps them).
  const std::vector<float>& sigmas() const { return sigmas_; }

 protected:
  // d sample / d sigma at noise level sigma given the model's output there (Euler's slope).
  float slope(float model_output, float sample, float sigma) const;

  SchedulerConfig config_;
  Prediction prediction_;
  std::string spacing_;
  std::vector<double> train_sigmas_, log_train_sigmas_;
  std::vector<float> sigmas_;
};

// diffusers' EulerDiscreteScheduler (A1111 "Euler"; no churn).
class EulerScheduler final : public SigmaScheduler {
 public:
  using SigmaScheduler::SigmaScheduler;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;
};

// diffusers' EulerAncestralDiscreteScheduler (A1111 "Euler a"): a deterministic step down to
// sigma_down, then fresh noise of size sigma_up.
class EulerAncestralScheduler final : public SigmaScheduler {
 public:
  using SigmaScheduler::SigmaScheduler;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;
};

// diffusers' HeunDiscreteScheduler (A1111 "Heun"): each step an Euler step to the next sigma,
// then the average of the slopes at both ends from the start again (two model calls; the
// last step, to sigma 0, is Euler's alone). Its timesteps are the steps' with every one after
// the first repeated.
class HeunScheduler final : public SigmaScheduler {
 public:
  using SigmaScheduler::SigmaScheduler;
  void set_timesteps(int steps) override;
  int order() const override { return 2; }
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
  std::vector<float> first_derivative_, first_sample_;
  float first_dt_ = 0;
};

// diffusers' LMSDiscreteScheduler (A1111 "LMS"): linear multistep of order up to 4 over the
// slopes of the last steps, the coefficients the integrals of Lagrange polynomials in sigma.
class LmsScheduler final : public SigmaScheduler {
 public:
  using SigmaScheduler::SigmaScheduler;
  void set_timesteps(int steps) override;
  void step(const std::vector<float>& model_output, std::size_t step, std::vector<float>& sample,
            NoiseSource* noise) override;

 private:
  double coefficient(int order, std::size_t t, int current) const;
  std::vector<std::vector<float>> derivatives_;  // newest last, at most 4
};

}  // namespace sinter::diffusion
