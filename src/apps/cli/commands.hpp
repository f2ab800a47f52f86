// Subcommands of the `sinter` CLI: run, info, devices. Uses only the public API.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "sinter/sinter.hpp"

namespace sinter_cli {

void add_commands(CLI::App& app);
void add_devices_command(CLI::App& app);    // devices_command.cpp
void add_bench_command(CLI::App& app);      // bench_command.cpp
void add_convert_command(CLI::App& app);    // convert_command.cpp
void add_cache_commands(CLI::App& app);     // cache_command.cpp: compile, cache
void add_generate_commands(CLI::App& app);  // generate_command.cpp: txt2img, tokenize
void add_serve_command(CLI::App& app);      // serve_command.cpp

// --shape NAME=d0,d1,... -> name and dims; invalid_argument otherwise.
std::pair<std::string, sinter::Shape> parse_shape_flag(const std::string& spec);

// Loads each -i spec (NAME=FILE, or a lone FILE for a single-input model) as a tensor.
std::map<std::string, sinter::Tensor> load_input_files(const sinter::Model& model,
                                                       const std::vector<std::string>& specs);

// Thrown by a command to end the process with this exit status once the stack has unwound
// (std::exit from inside a command would run static destructors while the command's models and
// worker threads are still alive).
struct ExitStatus {
  int code;
};

// "1.5 GiB"
std::string human_bytes(double bytes);

}  // namespace sinter_cli
