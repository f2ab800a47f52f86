// `sinter bench`: read, compile, a first inference, then repeated inferences; a report of each
// step with latency statistics, or one JSON object with --json. In the spirit of OpenVINO's
// benchmark_app. Inputs not given with -i are random (floats in [-1, 1), integers and booleans in
// {0, 1} so that ids and masks are valid for any model).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "apps/cli/commands.hpp"
#include "apps/cli/report.hpp"
#include "apps/cli/settings.hpp"

namespace sinter_cli {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct BenchOptions {
  std::string model;
  std::string device;
  std::vector<std::string> inputs;
  std::vector<std::string> shapes;  // NAME=d0,d1,...
  int64_t iterations = 0;
  double seconds = 0;
  bool json = false;
  bool profile = false;
  int profile_top = 10;  // slowest nodes listed with --profile
  int requests = 1;      // inferences in flight at once (start_async / wait)
};

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// Which devices served the inferences: "CPU" -> 3, "GPU.0" -> 17 (HETERO: "GPU.0,CPU").
struct DeviceTally {
  std::map<std::string, int64_t> per_device;
  std::vector<std::string> in_order;  // each device the first time it served

  void add(const std::vector<std::string>& devices) {
    ++per_device[joined(devices)];
    for (const auto& d : devices)
      if (std::find(in_order.begin(), in_order.end(), d) == in_order.end()) in_order.push_back(d);
  }
};

sinter::Tensor random_input(const sinter::PortInfo& port, const sinter::Shape& shape,
                            std::mt19937& rng) {
  using sinter::ElementType;
  sinter::Tensor t(port.element_type, shape);
  const int64_t n = t.element_count();
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int> bit(0, 1);
  switch (port.element_type) {
    case ElementType::f32:
      for (int64_t i = 0; i < n; ++i) t.data_as<float>()[i] = real(rng);
      break;
    case ElementType::f64:
      for (int64_t i = 0; i < n; ++i) t.data_as<double>()[i] = real(rng);
      break;
    case ElementType::i64:
      for (int64_t i = 0; i < n; ++i) t.data_as<int64_t>()[i] = bit(rng);
      break;
    case ElementType::i32:
      for (int64_t i = 0; i < n; ++i) t.data_as<int32_t>()[i] = bit(rng);
      break;
    case ElementType::boolean:
    case ElementType::u8:
    case ElementType::i8:
      for (int64_t i = 0; i < n; ++i) static_cast<uint8_t*>(t.data())[i] = uint8_t(bit(rng));
      break;
    default:
      throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                          "input '" + port.name + "' (" + to_string(port) +
                              "): no random values for this type; give it with -i NAME=FILE");
  }
  return t;
}

// The shape to feed `port`: from --shape, else its static shape; a dynamic dim is an error.
sinter::Shape input_shape(const sinter::PortInfo& port,
                          const std::map<std::string, sinter::Shape>& shapes) {
  if (auto it = shapes.find(port.name); it != shapes.end()) return it->second;
  sinter::Shape s;
  for (const auto& d : port.shape) {
    if (!d.is_static()) {
      throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                          "input '" + port.name + "' (" + to_string(port) + ") has dynamic dim '" +
                              (d.symbol.empty() ? "?" : d.symbol) + "'; give --shape " + port.name +
                              "=d0,d1,... or -i " + port.name + "=FILE");
    }
    s.push_back(d.value);
  }
  return s;
}

struct Stats {
  double median = 0, mean = 0, min = 0, max = 0, p90 = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
  };
  s.median = at(0.5);
  s.p90 = at(0.9);
  s.min = v.front();
  s.max = v.back();
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  return s;
}

void bench_command(const BenchOptions& opt) {
  const sinter::Config config = cli_settings().resolve(opt.device);
  sinter::Core core(config);
  auto say = [&](const std::string& line) {
    if (!opt.json) std::cout << line << std::endl;
  };
  // What the process holds before the model (libraries, heap): in the peak, in no estimate.
  const double baseline_rss_mb = double(sinter::resident_bytes()) / 1048576.0;
  const auto t0 = Clock::now();
  sinter::Model model = core.read_model(opt.model);
  const auto t1 = Clock::now();
  say("[1/4] read " + opt.model + " in " + std::to_string(int(ms_between(t0, t1))) + " ms" +
      (model.read_from_cache() ? " (from the model cache)" : ""));

  // Inputs first: their shapes are part of the compile (and of its cache entry).
  std::map<std::string, sinter::Shape> shapes;
  for (const auto& spec : opt.shapes) shapes.insert(parse_shape_flag(spec));
  for (const auto& [name, _] : shapes) {
    const auto& ins = model.inputs();
    if (std::none_of(ins.begin(), ins.end(), [&](const auto& p) { return p.name == name; })) {
      throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                          "--shape: '" + name + "' is not an input of the model");
    }
  }
  std::map<std::string, sinter::Tensor> inputs = load_input_files(model, opt.inputs);
  std::mt19937 rng(1234);
  std::map<std::string, sinter::Shape> input_shapes;
  for (const auto& p : model.inputs()) {
    if (!inputs.count(p.name)) inputs[p.name] = random_input(p, input_shape(p, shapes), rng);
    input_shapes[p.name] = inputs[p.name].shape();
  }

  const auto t1c = Clock::now();
  sinter::CompiledModel compiled = core.compile_model(model, input_shapes);
  const auto t2 = Clock::now();
  std::string devices;
  for (const auto& d : compiled.execution_devices()) devices += (devices.empty() ? "" : ",") + d;
  say("[2/4] compiled for '" + config.get("device") + "' (" + config.setting("device").source +
      ") -> " + devices + " in " + std::to_string(int(ms_between(t1c, t2))) + " ms, cache " +
      (compiled.loaded_from_cache() ? "hit" : "miss"));
  sinter::InferRequest request = compiled.create_infer_request();
  for (const auto& [name, tensor] : inputs) request.set_input(name, tensor);

  const auto t3 = Clock::now();
  request.infer();
  const auto t4 = Clock::now();
  const double first_ms = ms_between(t3, t4);
  const std::string first_device = joined(request.executed_on());
  const int64_t transfer_bytes = request.transfer_bytes();
  DeviceTally tally;
  tally.add(request.executed_on());
  say("[3/4] first inference on " + first_device + ": " + std::to_string(first_ms) + " ms");

  // Default: at least 10 iterations or 5 seconds, whichever takes longer, at most 1000.
  const int64_t min_iterations = opt.iterations > 0 ? opt.iterations : (opt.seconds > 0 ? 1 : 10);
  const double min_seconds = opt.seconds > 0 ? opt.seconds : (opt.iterations > 0 ? 0 : 5);
  std::vector<double> latencies;
  std::vector<sinter::NodeReport> node_totals;  // summed over the timed iterations
  request.set_profiling(opt.profile);
  auto more = [&](std::size_t done, Clock::time_point since) {
    return (int64_t(done) < min_iterations ||
            ms_between(since, Clock::now()) < min_seconds * 1000) &&
           (opt.iterations > 0 || done < 1000);
  };
  const auto start = Clock::now();
  if (opt.requests > 1) {
    // Several requests in flight: each is restarted as soon as it finishes, round robin.
    std::vector<sinter::InferRequest> pool;
    std::vector<Clock::time_point> started;
    for (int i = 0; i < opt.requests; ++i) {
      pool.push_back(compiled.create_infer_request());
      for (const auto& [name, tensor] : inputs) pool.back().set_input(name, tensor);
      started.push_back(Clock::now());
      pool.back().start_async();
    }
    std::size_t launched = pool.size();
    for (std::size_t i = 0; latencies.size() < launched; i = (i + 1) % pool.size()) {
      pool[i].wait();
      if (started[i] == Clock::time_point{}) continue;  // finished and not restarted
      latencies.push_back(ms_between(started[i], Clock::now()));
      tally.add(pool[i].executed_on());
      if (more(launched, start)) {
        started[i] = Clock::now();
        pool[i].start_async();
        ++launched;
      } else {
        started[i] = Clock::time_point{};
      }
    }
  }
  while (opt.requests <= 1 && more(latencies.size(), start)) {
    const auto a = Clock::now();
    request.infer();
    latencies.push_back(ms_between(a, Clock::now()));
    tally.add(request.executed_on());
    if (opt.profile) {
      const auto p = request.profile();
      if (node_totals.empty())
        node_totals = p;
      else
        for (size_t k = 0; k < p.size(); ++k) node_totals[k].ms += p[k].ms;
    }
  }
  const double total_ms = ms_between(start, Clock::now());
  const Stats s = stats_of(latencies);
  const double fps = total_ms > 0 ? 1000.0 * double(latencies.size()) / total_ms : 0;
  const double peak_rss_mb = double(sinter::peak_rss_bytes()) / 1048576.0;
  const double weights_mb = double(model.weight_bytes()) / 1048576.0;
  const double gflop = double(model.flops(input_shapes)) / 1e9;

  if (opt.json) {
    nlohmann::json j = {
        {"model", opt.model},
        {"device", config.get("device")},
        {"device_source", config.setting("device").source},
        {"execution_devices", tally.in_order},
        {"inferences_per_device", tally.per_device},
        {"placement", compiled.placement()},
        {"subgraphs", compiled.subgraph_devices().size()},
        {"subgraph_devices", compiled.subgraph_devices()},
        {"transfer_bytes_per_inference", transfer_bytes},
        {"requests", opt.requests},
        {"precision", compiled.precision()},
        {"read_ms", ms_between(t0, t1)},
        {"compile_ms", ms_between(t1c, t2)},
        {"loaded_from_cache", compiled.loaded_from_cache()},
        {"read_from_cache", model.read_from_cache()},
        {"first_inference_ms", first_ms},
        {"first_inference_device", first_device},
        {"iterations", latencies.size()},
        {"latency_ms",
         {{"median", s.median}, {"mean", s.mean}, {"min", s.min}, {"max", s.max}, {"p90", s.p90}}},
        {"throughput_fps", fps},
        {"peak_rss_mb", peak_rss_mb},
        {"baseline_rss_mb", baseline_rss_mb},
        {"weights_mb", weights_mb},
        {"memory_estimate_mb", double(compiled.memory_estimate().total_bytes()) / 1048576.0},
        {"memory_estimate",
         {{"weights_mb", double(compiled.memory_estimate().weight_bytes) / 1048576.0},
          {"inputs_mb", double(compiled.memory_estimate().input_bytes) / 1048576.0},
          {"activations_mb", double(compiled.memory_estimate().activation_bytes) / 1048576.0},
          {"activations", compiled.memory_estimate().activation_source},
          {"unsized_values", compiled.memory_estimate().unsized_values}}},
        {"activation_peak_mb",
         opt.profile ? nlohmann::json(double(request.peak_activation_bytes()) / 1048576.0)
                     : nlohmann::json(nullptr)},
        {"working_memory_mb",
         opt.profile ? nlohmann::json(double(request.working_memory_bytes()) / 1048576.0)
                     : nlohmann::json(nullptr)},
        {"threads", config.threads()},
        {"gflop", gflop},
        {"gflops_per_s", s.median > 0 ? gflop / (s.median / 1000.0) : 0.0}};
    std::cout << j.dump(2) << std::endl;
    return;
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "[4/4] %zu iterations in %.2f s: median %.2f ms, mean %.2f, min %.2f, max %.2f, "
                "p90 %.2f; %.2f inferences/s",
                latencies.size(), total_ms / 1000, s.median, s.mean, s.min, s.max, s.p90, fps);
  say(line);
  std::snprintf(line, sizeof line,
                "peak RSS %.1f MiB (%.1f MiB of it before reading the model); estimated need "
                "%.1f MiB (%s)",
                peak_rss_mb, baseline_rss_mb,
                double(compiled.memory_estimate().total_bytes()) / 1048576.0,
                compiled.memory_estimate().describe().c_str());
  say(line);
  std::cout.flush();
  if (opt.requests > 1) say("(" + std::to_string(opt.requests) + " requests in flight)");
  if (compiled.subgraph_devices().size() > 1)
    say("passed between devices per inference: " + std::to_string(transfer_bytes) + " bytes");
  print_placement(compiled);
  if (opt.profile) {
    for (auto& n : node_totals) n.ms /= double(latencies.size());
    print_profile(node_totals, s.mean, opt.profile_top);
    std::printf("peak of intermediate values: %s; with the kernels' working memory: %s\n",
                human_bytes(double(request.peak_activation_bytes())).c_str(),
                human_bytes(double(request.working_memory_bytes())).c_str());
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto opt = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand(
      "bench", "Measure read, compile and inference latency (random inputs unless given)");
  cmd->add_option("model", opt->model, "ONNX model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-d,--device", opt->device, "Device (default: the setting 'device')");
  cmd->add_option("-i,--input", opt->inputs, "NAME=FILE (.npy or .pb); others are random");
  cmd->add_option("--shape", opt->shapes,
                  "NAME=d0,d1,... for a random input with dynamic dims (repeatable)");
  cmd->add_option("-n,--iterations", opt->iterations,
                  "Timed inferences (default: >= 10 and >= 5 s)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-t,--time", opt->seconds, "Seconds of timed inferences")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--requests", opt->requests,
                  "Inferences in flight at once (asynchronous requests); throughput counts all")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--json", opt->json, "One JSON object instead of the report");
  cmd->add_flag("--profile", opt->profile,
                "Time every node; print per-device busy time and the slowest nodes");
  cmd->add_option("--profile-top", opt->profile_top,
                  "With --profile: how many of the slowest nodes to list (default 10)")
      ->check(CLI::PositiveNumber);
  cmd->callback([opt] { bench_command(*opt); });
}

}  // namespace sinter_cli
