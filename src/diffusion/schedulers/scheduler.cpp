#include "diffusion/schedulers/scheduler.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <stdexcept>

#include "diffusion/schedulers/ddim.hpp"
#include "diffusion/schedulers/dpm_multistep.hpp"
#include "diffusion/schedulers/lcm.hpp"
#include "diffusion/schedulers/pndm.hpp"
#include "diffusion/schedulers/sigma_schedulers.hpp"
#include "diffusion/schedulers/unipc.hpp"

namespace sinter::diffusion {

namespace {

struct Sampler {
  const char* a1111_name;
  const char* diffusers_class;
  std::function<std::unique_ptr<Scheduler>(const SchedulerConfig&)> make;
};

const std::vector<Sampler>& samplers() {
  static const std::vector<Sampler> all = {
      {"Euler", "EulerDiscreteScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<EulerScheduler>(c); }},
      {"Euler a", "EulerAncestralDiscreteScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<EulerAncestralScheduler>(c); }},
      {"Heun", "HeunDiscreteScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<HeunScheduler>(c); }},
      {"LMS", "LMSDiscreteScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<LmsScheduler>(c); }},
      {"DDIM", "DDIMScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<DdimScheduler>(c); }},
      {"LCM", "LCMScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<LcmScheduler>(c); }},
      {"UniPC", "UniPCMultistepScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<UniPcScheduler>(c); }},
      {"PNDM", "PNDMScheduler",
       [](const SchedulerConfig& c) { return std::make_unique<PndmScheduler>(c); }},
      {"DPM++ 2M", "DPMSolverMultistepScheduler",
       [](const SchedulerConfig& c) {
         return std::make_unique<DpmSolverMultistepScheduler>(c, false);
       }},
      {"DPM++ 2M SDE", "DPMSolverMultistepScheduler",  // class lookups read algorithm_type
       [](const SchedulerConfig& c) {
         return std::make_unique<DpmSolverMultistepScheduler>(c, true);
       }},
  };
  return all;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& config) {
  // diffusers' class covers both DPM-Solver++ variants; its algorithm_type picks one.
  if (name == "DPMSolverMultistepScheduler") {
    if (config.algorithm_type != "dpmsolver++" && config.algorithm_type != "sde-dpmsolver++")
      throw std::invalid_argument("DPMSolverMultistepScheduler: algorithm_type '" +
                                  config.algorithm_type +
                                  "' is not supported (dpmsolver++ or sde-dpmsolver++)");
    return std::make_unique<DpmSolverMultistepScheduler>(
        config, config.algorithm_type == "sde-dpmsolver++");
  }
  for (const Sampler& s : samplers())
    if (lower(name) == lower(s.a1111_name) || name == s.diffusers_class) return s.make(config);
  std::string known;
  for (const std::string& k : known_sampler_names()) known += (known.empty() ? "" : ", ") + k;
  throw std::invalid_argument("unknown sampler '" + name + "' (known: " + known + ")");
}

void Scheduler::check_step(const std::vector<float>& out, std::size_t step,
                           const std::vector<float>& sample) const {
  if (step >= timesteps_.size()) throw std::out_of_range("step past the last timestep");
  if (out.size() != sample.size())
    throw std::invalid_argument("model output and sample differ in size");
}

std::vector<std::string> known_sampler_names() {
  std::vector<std::string> names;
  for (const Sampler& s : samplers()) names.push_back(s.a1111_name);
  return names;
}

}  // namespace sinter::diffusion
