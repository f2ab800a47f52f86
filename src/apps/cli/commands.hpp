// Subcommands of the `sinter` CLI: run, info, devices. Uses only the public API.
#pragma once

#include <CLI/CLI.hpp>

namespace sinter_cli {

void add_commands(CLI::App& app);

}  // namespace sinter_cli
