// Subcommands of the `sinter` CLI: run, info, devices. Uses only the public API.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace sinter_cli {

void add_commands(CLI::App& app);
void add_devices_command(CLI::App& app);  // devices_command.cpp

// "1.5 GiB"
std::string human_bytes(double bytes);

}  // namespace sinter_cli
