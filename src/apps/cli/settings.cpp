#include "apps/cli/settings.hpp"

#include <cstdio>

namespace sinter_cli {

CliSettings& cli_settings() {
  static CliSettings settings;
  return settings;
}

void CliSettings::add_flags(CLI::App& app) {
  app.add_option("--config", config_file_,
                 "JSON settings file (default: ./sinter.json, else "
                 "$XDG_CONFIG_HOME/sinter/config.json)");
  struct Flag {
    const char* key;
    const char* name;
    const char* help;
  };
  const Flag flags[] = {
      {"cache_dir", "--cache-dir", "Model cache folder (SINTER_CACHE_DIR)"},
      {"log_level", "--log-level", "trace, debug, info, warn, error or off (SINTER_LOG_LEVEL)"},
      {"threads", "--threads", "CPU threads, 0 = one per core (SINTER_THREADS)"},
      {"precision", "--precision",
       "f32 (default); f16 on GPUs: tensors kept as half, arithmetic in f32; bf16 on CPUs with "
       "AVX512_BF16 or AMX: convolutions read bf16, accumulate f32 (SINTER_PRECISION)"},
      {"weights", "--weights",
       "How the CPU keeps convolution and matrix-product weights in memory: f32 (default), f16 "
       "(half the memory) or int8 (a quarter; one scale per output channel), widened to f32 one "
       "layer at a time on each run; arithmetic stays f32 (SINTER_WEIGHTS)"},
      {"hetero_policy", "--hetero-policy",
       "HETERO split: first (each node on the first listed device that runs it) or memory "
       "(fill devices in order as their memory allows) (SINTER_HETERO_POLICY)"},
      {"memory_limit", "--memory-limit",
       "Refuse models needing more, e.g. 4GiB (SINTER_MEMORY_LIMIT)"},
  };
  for (const Flag& f : flags) {
    options_[f.key] = app.add_option(f.name, values_[f.key], f.help);
  }
  app.add_flag("--no-runtime-fallback", no_runtime_fallback_,
               "AUTO: an inference that fails on the chosen device is an error instead of a "
               "re-run on the CPU (SINTER_RUNTIME_FALLBACK=off)");
}

sinter::Config CliSettings::resolve(const std::string& device) const {
  std::map<std::string, std::string> given;
  for (const auto& [key, option] : options_) {
    if (option->count() > 0) given[key] = values_.at(key);
  }
  if (!device.empty()) given["device"] = device;
  if (no_runtime_fallback_) given["runtime_fallback"] = "off";
  sinter::Config config = sinter::Config::resolve(given, config_file_);
  for (const auto& w : config.warnings()) std::fprintf(stderr, "sinter: warning: %s\n", w.c_str());
  return config;
}

sinter::Core CliSettings::make_core(const std::string& device) const {
  return sinter::Core(resolve(device));
}

void add_config_command(CLI::App& app) {
  auto device = std::make_shared<std::string>();
  auto* cmd =
      app.add_subcommand("config",
                         "Print every effective setting and where it comes from (command line > "
                         "environment > config file > default)");
  cmd->add_option("-d,--device", *device, "A device, as run/bench would get it");
  cmd->callback([device] {
    const sinter::Config config = cli_settings().resolve(*device);
    std::printf("config file: %s\n", config.file().empty() ? "(none)" : config.file().c_str());
    for (const auto& s : config.all()) {
      std::printf("%-13s = %-28s (%s)\n", s.key.c_str(),
                  s.value.empty() ? "\"\"" : ("'" + s.value + "'").c_str(), s.source.c_str());
    }
  });
}

}  // namespace sinter_cli
