// Samplers ("schedulers" in diffusers) with diffusers' numerics: pure functions of their
// configuration, the step, the model's output and the sample, with no runtime dependency.
//
// The loop a pipeline runs (diffusers' order):
//   s->set_timesteps(steps);
//   sample = noise * s->init_noise_sigma();
//   for (i = 0; i < s->timesteps().size(); ++i) {
//     input = sample * s->input_scale(i);              // scale_model_input
//     out = model(input, s->timesteps()[i]);
//     s->step(out, i, sample, noise_source);           // sample becomes the next sample
//   }
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/rng/noise.hpp"

namespace sinter::diffusion {

// scheduler_config.json's keys (diffusers' names); unset optionals take the sampler's default.
struct SchedulerConfig {
  int num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  std::string beta_schedule = "scaled_linear";  // linear, scaled_linear, squaredcos_cap_v2
  std::string prediction_type = "epsilon";      // epsilon, v_prediction, sample
  std::optional<std::string> timestep_spacing;  // leading, linspace, trailing
  int steps_offset = 0;
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  std::optional<bool> set_alpha_to_one;  // DDIM and LCM default true, PNDM false
  bool skip_prk_steps = false;           // PNDM: PLMS from the start (SD's configs say true)
  // The sigma schedule of the sigma-based samplers: normal (the model's own), karras,
  // exponential, sgm_uniform (A1111's "Schedule type").
  std::string sigma_schedule = "normal";
  int solver_order = 2;
  bool lower_order_final = true;
  std::string final_sigmas_type = "zero";  // multistep solvers: zero or sigma_min
  // DPMSolverMultistepScheduler by class name: dpmsolver++ or sde-dpmsolver++.
  std::string algorithm_type = "dpmsolver++";
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Plans `steps` denoising steps (1..1000); resets any multistep history.
  virtual void set_timesteps(int steps) = 0;
  // The timestep the model is given at each step (fractional for interpolated schedules).
  const std::vector<double>& timesteps() const { return timesteps_; }
  // Model evaluations per step of the schedule the user asked for (Heun: 2); timesteps() has
  // about that many entries per step, and img2img starts at (steps - run) * order().
  virtual int order() const { return 1; }
  // The factor on unit-variance noise for the first sample.
  virtual double init_noise_sigma() const { return 1.0; }
  // What the sample is multiplied by before the model reads it at step i.
  virtual double input_scale(std::size_t /*step*/) const { return 1.0; }
  // Advances `sample` (read and written) by step i given the model's output for it; samplers
  // that add noise draw it from `noise` (which may be null for the others).
  virtual void step(const std::vector<float>& model_output, std::size_t step,
                    std::vector<float>& sample, NoiseSource* noise) = 0;
  // img2img: original samples noised to the level of step i (diffusers' add_noise).
  virtual void add_noise(std::vector<float>& original, const std::vector<float>& noise,
                         std::size_t step) const = 0;

 protected:
  // Throws for a step past the schedule or a model output of another size than the sample.
  void check_step(const std::vector<float>& model_output, std::size_t step,
                  const std::vector<float>& sample) const;

  std::vector<double> timesteps_;
};

// A sampler by its A1111 name (case-insensitive: "Euler", "Euler a", "DDIM", "DPM++ 2M") or its
// diffusers class name; throws std::invalid_argument listing the known names.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& config);
std::vector<std::string> known_sampler_names();

}  // namespace sinter::diffusion
