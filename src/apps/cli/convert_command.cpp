// `sinter convert MODEL -o OUT.sinter [--compress f16]`: the CPU-side conversion phase. The
// .sinter file loads by mmap with no weight copies (docs/sinter-format.md).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "apps/cli/commands.hpp"
#include "apps/cli/settings.hpp"

namespace sinter_cli {

namespace {

struct ConvertArgs {
  std::string model, output, compress = "none";
};

void convert_command(const ConvertArgs& a) {
  namespace fs = std::filesystem;
  sinter::Core core = cli_settings().make_core();
  if (fs::exists(a.output) && fs::equivalent(a.model, a.output)) {
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "convert: the output '" + a.output + "' is the input model itself");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const sinter::Model model = core.read_model(a.model);
  const auto t1 = std::chrono::steady_clock::now();
  sinter::ConvertOptions options;
  options.compress_f16 = a.compress == "f16";
  const sinter::ConvertReport r = model.save(a.output, options);
  const auto t2 = std::chrono::steady_clock::now();
  auto ms = [](auto x, auto y) { return std::chrono::duration<double, std::milli>(y - x).count(); };
  std::printf("%s (%s) -> %s: %lld tensors%s, %s; read %.0f ms, write %.0f ms\n", a.model.c_str(),
              model.format().c_str(), a.output.c_str(), static_cast<long long>(r.tensors),
              options.compress_f16
                  ? (", " + std::to_string(r.compressed_tensors) + " stored as f16").c_str()
                  : "",
              human_bytes(double(r.file_bytes)).c_str(), ms(t0, t1), ms(t1, t2));
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert a model to .sinter: loads by mmap, no weight copies, no protobuf parse");
  cmd->add_option("model", a->model, "ONNX (or .sinter) model")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a->output, "The .sinter file to write")->required();
  cmd->add_option("--compress", a->compress,
                  "none, or f16: float32 weights stored as float16 (half the disk; expanded to "
                  "float32 at load, so results differ by f16 rounding)")
      ->check(CLI::IsMember({"none", "f16"}))
      ->capture_default_str();
  cmd->callback([a] { convert_command(*a); });
}

}  // namespace sinter_cli
