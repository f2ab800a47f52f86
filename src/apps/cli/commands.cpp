#include "apps/cli/commands.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>

#include "apps/cli/report.hpp"
#include "apps/cli/settings.hpp"
#include "sinter/sinter.hpp"

namespace sinter_cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Output files are named after the output, with anything outside [A-Za-z0-9._-] replaced by '_'.
std::string safe_file_name(const std::string& name) {
  std::string s = name;
  for (char& c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

struct RunOptions {
  std::string model;
  std::string device;  // empty: the configured device
  std::vector<std::string> inputs;
  std::string output_dir = ".";
  bool report = false;
};

void run_command(const RunOptions& opt) {
  sinter::Core core = cli_settings().make_core(opt.device);
  auto t0 = Clock::now();
  sinter::Model model = core.read_model(opt.model);
  const double read_ms = ms_since(t0);
  const auto given = load_input_files(model, opt.inputs);
  std::string missing;
  for (const auto& p : model.inputs()) {
    if (!given.count(p.name)) missing += "\n  -i " + p.name + "=FILE   (" + to_string(p) + ")";
  }
  // Compiled for the shapes of the given inputs: they key the cache entry.
  std::map<std::string, sinter::Shape> shapes;
  for (const auto& p : model.inputs()) {
    if (auto it = given.find(p.name); it != given.end()) shapes[p.name] = it->second.shape();
  }
  t0 = Clock::now();
  sinter::CompiledModel compiled = core.compile_model(model, shapes);
  const double compile_ms = ms_since(t0);
  sinter::InferRequest request = compiled.create_infer_request();
  for (const auto& [name, tensor] : given) request.set_input(name, tensor);
  if (!missing.empty()) {
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "missing inputs; give each as .npy or .pb:" + missing);
  }

  request.set_profiling(opt.report);
  t0 = Clock::now();
  request.infer();
  const double infer_ms = ms_since(t0);
  if (opt.report) {
    print_placement(compiled);
    std::string ran_on;
    for (const auto& d : request.executed_on()) ran_on += (ran_on.empty() ? "" : ", ") + d;
    std::printf("this inference ran on: %s", ran_on.c_str());
    if (compiled.subgraph_devices().size() > 1)
      std::printf("; %s passed between devices",
                  human_bytes(double(request.transfer_bytes())).c_str());
    std::printf("\n");
    print_profile(request.profile(), infer_ms);
    std::printf("peak of intermediate values: %s\n",
                human_bytes(double(request.peak_activation_bytes())).c_str());
  }

  fs::create_directories(opt.output_dir);
  for (const auto& p : compiled.outputs()) {
    const sinter::Value& v = request.get_output(p.name);
    const std::string base = (fs::path(opt.output_dir) / safe_file_name(p.name)).string();
    if (v.is_tensor()) {
      sinter::save_npy(v.tensor(), base + ".npy");
      std::cout << p.name << ": " << to_string(v.tensor().element_type())
                << sinter::to_string(v.tensor().shape()) << " -> " << base << ".npy\n";
    } else if (v.is_sequence()) {
      const auto& items = v.sequence_items();
      for (std::size_t i = 0; i < items.size(); ++i) {
        sinter::save_npy(items[i], base + "_" + std::to_string(i) + ".npy");
      }
      std::cout << p.name << ": sequence of " << items.size() << " tensors -> " << base
                << "_<i>.npy\n";
    } else {
      std::cout << p.name << ": empty optional (no file written)\n";
    }
  }
  // The devices that ran this inference (AUTO's CPU phase included), not the compiled plan.
  std::string devices;
  for (const auto& d : request.executed_on()) devices += (devices.empty() ? "" : ",") + d;
  std::printf("device %s | read %.1f ms | compile %.1f ms | inference %.1f ms\n", devices.c_str(),
              read_ms, compile_ms, infer_ms);
}

void info_command(const std::string& path, const std::vector<std::string>& shape_flags) {
  sinter::Core core;
  sinter::Model model = core.read_model(path);
  std::map<std::string, sinter::Shape> shapes;
  for (const auto& spec : shape_flags) shapes.insert(parse_shape_flag(spec));
  const sinter::MemoryEstimate memory = model.memory_estimate(shapes);  // checks the names
  std::cout << "model:   " << model.source() << "\n";
  std::cout << "opset:   " << model.opset() << "\n";
  std::cout << "nodes:   " << model.node_count() << "\n";
  std::cout << "memory:  " << (memory.unsized_values > 0 ? "at least " : "")
            << human_bytes(double(memory.total_bytes())) << " (" << memory.describe() << ")\n";
  std::cout << "inputs:\n";
  for (const auto& p : model.inputs()) std::cout << "  " << p.name << "  " << to_string(p) << "\n";
  std::cout << "outputs:\n";
  for (const auto& p : model.outputs()) std::cout << "  " << p.name << "  " << to_string(p) << "\n";
  std::cout << "ops:\n";
  std::vector<std::pair<int64_t, std::string>> ops;
  for (const auto& [op, n] : model.op_histogram()) ops.emplace_back(n, op);
  std::sort(ops.rbegin(), ops.rend());
  for (const auto& [n, op] : ops)
    std::printf("  %-28s %lld\n", op.c_str(), static_cast<long long>(n));
}

struct CompareOptions {
  std::string actual, expected;
  sinter::Tolerance tolerance;
  double max_outside = 0;  // fraction of elements allowed outside the bound
  double atol_of_max = 0;  // adds this fraction of max |expected| to atol
  bool require_finite = false;
};

// Exit status 0 when every element satisfies |a - e| <= atol + rtol * |e|, else 1.
void compare_command(const CompareOptions& opt) {
  const sinter::Tensor a = sinter::load_tensor(opt.actual);
  const sinter::Tensor e = sinter::load_tensor(opt.expected);
  sinter::Tolerance tolerance = opt.tolerance;
  if (opt.atol_of_max > 0)  // a first pass finds max |expected|
    tolerance.atol += opt.atol_of_max * sinter::compare_tensors(a, e, tolerance).max_abs_expected;
  const sinter::TensorComparison r = sinter::compare_tensors(a, e, tolerance);
  std::printf("%s\n", r.summary(opt.actual + " vs " + opt.expected, tolerance).c_str());
  if (!r.layout_error.empty()) {
    throw sinter::Error(sinter::ErrorCategory::invalid_argument, "compare: " + r.layout_error);
  }
  // --max-outside F lets up to F of the elements lie outside the bound (rounding flips that
  // quantized models amplify), never more.
  const auto allowed = static_cast<int64_t>(opt.max_outside * static_cast<double>(r.elements));
  if (r.mismatches > allowed) {
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "compare: " + std::to_string(r.mismatches) + " elements differ" +
                            (allowed > 0 ? " (" + std::to_string(allowed) + " allowed)" : ""));
  }
  if (opt.require_finite && r.non_finite) {
    throw sinter::Error(
        sinter::ErrorCategory::invalid_argument,
        "compare: " + std::to_string(r.non_finite) + " elements are NaN or infinite");
  }
}

}  // namespace

std::map<std::string, sinter::Tensor> load_input_files(const sinter::Model& model,
                                                       const std::vector<std::string>& specs) {
  std::map<std::string, sinter::Tensor> inputs;
  for (const auto& spec : specs) {
    std::string name, file;
    const auto eq = spec.find('=');
    if (eq == std::string::npos) {
      if (model.inputs().size() != 1) {
        throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                            "-i '" + spec + "': the model has " +
                                std::to_string(model.inputs().size()) +
                                " inputs, so write -i NAME=FILE");
      }
      name = model.inputs()[0].name;
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    try {
      inputs[name] = sinter::load_tensor(file);
    } catch (const sinter::Error& e) {
      throw sinter::Error(e.category(), "input '" + name + "': " + e.what());
    }
  }
  return inputs;
}

// NAME=d0,d1,... -> name and dims.
std::pair<std::string, sinter::Shape> parse_shape_flag(const std::string& spec) {
  const auto eq = spec.find('=');
  sinter::Shape dims;
  bool ok = eq != std::string::npos && eq > 0 && eq + 1 < spec.size();
  if (ok) {
    std::string rest = spec.substr(eq + 1) + ",";
    for (size_t start = 0, comma; ok && (comma = rest.find(',', start)) != std::string::npos;
         start = comma + 1) {
      const std::string d = rest.substr(start, comma - start);
      ok = !d.empty() && d.size() < 12 && std::all_of(d.begin(), d.end(), ::isdigit);
      if (ok) dims.push_back(std::stoll(d));
    }
  }
  if (!ok) {
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "--shape '" + spec + "': expected NAME=d0,d1,... with non-negative sizes");
  }
  return {spec.substr(0, eq), dims};
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
  return buf;
}

void add_commands(CLI::App& app) {
  auto cmp = std::make_shared<CompareOptions>();
  auto* compare = app.add_subcommand(
      "compare", "Compare two tensor files (.npy or .pb); exit 1 when they differ");
  compare->add_option("actual", cmp->actual, "Tensor file to check")
      ->required()
      ->check(CLI::ExistingFile);
  compare->add_option("expected", cmp->expected, "Reference tensor file")
      ->required()
      ->check(CLI::ExistingFile);
  compare->add_option("--rtol", cmp->tolerance.rtol, "Relative tolerance")->capture_default_str();
  compare->add_option("--atol", cmp->tolerance.atol, "Absolute tolerance")->capture_default_str();
  compare->add_option("--atol-of-max", cmp->atol_of_max,
                      "Add this fraction of the largest |expected| to atol (for reduced "
                      "precision, whose error scales with the values)");
  compare
      ->add_option("--max-outside", cmp->max_outside,
                   "Fraction of the elements allowed outside the bound (default 0: none)")
      ->check(CLI::Range(0.0, 1.0));
  compare->add_flag("--require-finite", cmp->require_finite,
                    "Also fail when either tensor holds NaN or infinite elements");
  compare->callback([cmp] { compare_command(*cmp); });

  auto run_opt = std::make_shared<RunOptions>();
  auto* run = app.add_subcommand("run", "Run a model once on given inputs; write outputs as .npy");
  run->add_option("model", run_opt->model, "ONNX model file")->required()->check(CLI::ExistingFile);
  run->add_option("-d,--device", run_opt->device,
                  "Device: CPU, GPU, GPU.N, N, HETERO:D1,D2, AUTO, AUTO:-X (default: the "
                  "setting 'device', see `sinter config`)");
  run->add_option("-i,--input", run_opt->inputs,
                  "NAME=FILE with FILE a .npy or ONNX TensorProto .pb (repeat per input; a lone "
                  "FILE is fine for a single-input model)");
  run->add_option("-o,--output-dir", run_opt->output_dir,
                  "Folder for the outputs, written as <name>.npy")
      ->capture_default_str();
  run->add_flag("--report", run_opt->report,
                "Print where each part ran (device, implementation) and the slowest nodes");
  run->callback([run_opt] { run_command(*run_opt); });

  auto info_path = std::make_shared<std::string>();
  auto* info =
      app.add_subcommand("info", "Print a model's inputs, outputs, opset and op histogram");
  info->add_option("model", *info_path, "ONNX or .sinter model file")
      ->required()
      ->check(CLI::ExistingFile);
  auto info_shapes = std::make_shared<std::vector<std::string>>();
  info->add_option("--shape", *info_shapes,
                   "NAME=d0,d1,...: static shape of a dynamic input, for the memory estimate");
  info->callback([info_path, info_shapes] { info_command(*info_path, *info_shapes); });

  add_devices_command(app);
  add_config_command(app);
  add_bench_command(app);
  add_convert_command(app);
  add_cache_commands(app);
  add_generate_commands(app);
  add_serve_command(app);
}

}  // namespace sinter_cli
