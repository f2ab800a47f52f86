// The CLI's side of configuration: the global flags (--config, --cache-dir, --log-level,
// --threads, --memory-limit) and a command's own -d, turned into a sinter::Config with the one
// precedence (command line > environment > config file > default) and its warnings printed.
//
//   sinter::Core core = cli_settings().make_core(device_flag);
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "sinter/sinter.hpp"

namespace sinter_cli {

class CliSettings {
 public:
  // Adds the global flags to the app.
  void add_flags(CLI::App& app);
  // Resolves the configuration with `device` (empty: not given) as the command's -d, prints
  // one warning per conflicting setting to stderr, and returns a Core using it.
  sinter::Core make_core(const std::string& device = "") const;
  sinter::Config resolve(const std::string& device = "") const;

 private:
  std::string config_file_;
  std::map<std::string, std::string> values_;  // storage for the flags
  std::map<std::string, CLI::Option*> options_;
  bool no_runtime_fallback_ = false;
};

CliSettings& cli_settings();

// `sinter config`: every effective setting with its source.
void add_config_command(CLI::App& app);

}  // namespace sinter_cli
