// `sinter convert MODEL -o OUT.sinter [--compress f16|int8]`: the CPU-side conversion phase. The
// .sinter file loads by mmap with no weight copies (docs/sinter-format.md). Given a pipeline
// folder (model_index.json), every sub-model is converted to <sub>/model.sinter in the output
// folder and the rest (configs, tokenizer) copied; the folder appears whole or not at all.
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

sinter::ConvertOptions convert_options(const ConvertArgs& a) {
  sinter::ConvertOptions options;
  options.compress_f16 = a.compress == "f16";
  options.compress_int8 = a.compress == "int8";
  return options;
}

// The files of a pipeline folder that are model weights (left out of the converted copy).
bool is_model_file(const std::filesystem::path& p) {
  const std::string name = p.filename().string(), ext = p.extension().string();
  return ext == ".onnx" || ext == ".onnx_data" || ext == ".data" || name == "weights.pb";
}

void convert_pipeline(const ConvertArgs& a, const sinter::Core& core) {
  namespace fs = std::filesystem;
  const fs::path from(a.model), to(a.output);
  if (!fs::is_regular_file(from / "model_index.json"))
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "convert: " + a.model +
                            " is a folder without model_index.json (not a "
                            "diffusers pipeline)");
  if (fs::exists(to))
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "convert: " + a.output + " exists; give a new folder");
  const fs::path partial = to.string() + ".partial";
  fs::remove_all(partial);
  try {
    int converted = 0;
    for (const auto& entry : fs::recursive_directory_iterator(from)) {
      const fs::path relative = fs::relative(entry.path(), from);
      if (entry.is_directory()) {
        fs::create_directories(partial / relative);
      } else if (entry.path().filename() == "model.onnx") {
        const auto t0 = std::chrono::steady_clock::now();
        const sinter::Model model = core.read_model(entry.path().string());
        const sinter::ConvertOptions options = convert_options(a);
        const fs::path out = partial / relative.parent_path() / "model.sinter";
        const sinter::ConvertReport r = model.save(out.string(), options);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%-14s %lld tensors, %s, %.1f s\n", relative.parent_path().string().c_str(),
                    static_cast<long long>(r.tensors), human_bytes(double(r.file_bytes)).c_str(),
                    s);
        ++converted;
      } else if (!is_model_file(entry.path())) {
        fs::copy_file(entry.path(), partial / relative);
      }
    }
    if (converted == 0)
      throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                          "convert: no model.onnx under " + a.model);
    fs::rename(partial, to);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    throw;
  }
  std::printf("%s -> %s (load it like the original: sinter txt2img %s ...)\n", a.model.c_str(),
              a.output.c_str(), a.output.c_str());
}

void convert_command(const ConvertArgs& a) {
  namespace fs = std::filesystem;
  sinter::Core core = cli_settings().make_core();
  if (fs::is_directory(a.model)) {
    convert_pipeline(a, core);
    return;
  }
  if (fs::exists(a.output) && fs::equivalent(a.model, a.output)) {
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "convert: the output '" + a.output + "' is the input model itself");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const sinter::Model model = core.read_model(a.model);
  const auto t1 = std::chrono::steady_clock::now();
  const sinter::ConvertOptions options = convert_options(a);
  const sinter::ConvertReport r = model.save(a.output, options);
  const auto t2 = std::chrono::steady_clock::now();
  auto ms = [](auto x, auto y) { return std::chrono::duration<double, std::milli>(y - x).count(); };
  std::printf(
      "%s (%s) -> %s: %lld tensors%s, %s; read %.0f ms, write %.0f ms\n", a.model.c_str(),
      model.format().c_str(), a.output.c_str(), static_cast<long long>(r.tensors),
      a.compress != "none"
          ? (", " + std::to_string(r.compressed_tensors) + " stored as " + a.compress).c_str()
          : "",
      human_bytes(double(r.file_bytes)).c_str(), ms(t0, t1), ms(t1, t2));
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert a model to .sinter: loads by mmap, no weight copies, no protobuf parse");
  cmd->add_option("model", a->model,
                  "ONNX (or .sinter) model, or a diffusers pipeline folder (model_index.json)")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("-o,--output", a->output,
                  "The .sinter file to write (a new folder for a pipeline)")
      ->required();
  cmd->add_option("--compress", a->compress,
                  "none; f16: float32 weights stored as float16 (half the disk; expanded to "
                  "float32 at load, so results differ by f16 rounding); int8: Conv, MatMul and "
                  "Gemm weights stored as int8 with one scale per output channel (a quarter of "
                  "the disk; the CPU keeps them int8 in memory and widens one layer at a time; "
                  "results differ by the rounding, about 2% RMS on SD 1.5's UNet)")
      ->check(CLI::IsMember({"none", "f16", "int8"}))
      ->capture_default_str();
  cmd->callback([a] { convert_command(*a); });
}

}  // namespace sinter_cli
