// The `sinter` command. Subcommands live in commands.cpp; this file only wires up CLI11.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/cli/commands.hpp"
#include "apps/cli/interrupts.hpp"
#include "apps/cli/settings.hpp"
#include "sinter/sinter.hpp"

int main(int argc, char** argv) {
  sinter_cli::interrupts::install();
  CLI::App app{
      "sinter: run ONNX models on the CPU and on OpenCL GPUs, split across devices (HETERO) or\n"
      "on the best one (AUTO); every step says which device ran it.\n"
      "Examples:\n"
      "  sinter info model.onnx\n"
      "  sinter run model.onnx -i input=image.npy -o out/\n"
      "  sinter run model.onnx -i input=image.npy -d HETERO:GPU.0,CPU --report\n"
      "  sinter bench model.onnx -d AUTO --json\n"
      "  sinter devices\n"
      "  sinter config\n"
      "Devices and settings: docs/devices-and-settings.md"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may come after the subcommand too
  sinter_cli::cli_settings().add_flags(app);
  app.set_version_flag("--version", std::string("sinter ") + SINTER_VERSION);
  sinter_cli::add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const sinter_cli::ExitStatus& e) {
    return e.code;
  } catch (const sinter::Error& e) {
    std::cerr << "sinter: error [" << sinter::to_string(e.category()) << "]: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sinter: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
