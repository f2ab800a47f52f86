// `sinter compile` (fill the model cache ahead of time) and `sinter cache list|info|prune|clear`.
#include <cstdio>
#include <ctime>

#include "apps/cli/commands.hpp"
#include "apps/cli/settings.hpp"

namespace sinter_cli {

namespace {

struct CompileArgs {
  std::string model, device;
  std::vector<std::string> shapes;
};

void compile_command(const CompileArgs& a) {
  const sinter::Config config = cli_settings().resolve(a.device);
  if (!config.cache_enabled()) {
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "compile: the model cache is off (setting 'cache' from " +
                            config.setting("cache").source + "); nothing would be kept");
  }
  sinter::Core core(config);
  std::map<std::string, sinter::Shape> shapes;
  for (const auto& s : a.shapes) shapes.insert(parse_shape_flag(s));
  const auto t0 = std::chrono::steady_clock::now();
  const sinter::Model model = core.read_model(a.model);
  const auto t1 = std::chrono::steady_clock::now();
  const sinter::CompiledModel compiled = core.compile_model(model, config.get("device"), shapes);
  const auto t2 = std::chrono::steady_clock::now();
  auto ms = [](auto x, auto y) { return std::chrono::duration<double, std::milli>(y - x).count(); };
  std::printf("%s on %s: %s; read %.0f ms%s, compile %.0f ms; cache %s\n", a.model.c_str(),
              compiled.execution_devices().at(0).c_str(),
              compiled.loaded_from_cache() ? "already cached" : "compiled and cached", ms(t0, t1),
              model.read_from_cache() ? " (from the cache)" : "", ms(t1, t2),
              config.get("cache_dir").c_str());
}

std::string when(int64_t unix_seconds) {
  char buf[32];
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

}  // namespace

void add_cache_commands(CLI::App& app) {
  auto c = std::make_shared<CompileArgs>();
  auto* compile = app.add_subcommand(
      "compile",
      "Compile a model for a device into the model cache, so that later runs start fast");
  compile->add_option("model", c->model, "ONNX or .sinter model")
      ->required()
      ->check(CLI::ExistingFile);
  compile->add_option("-d,--device", c->device, "Device (default: the setting 'device')");
  compile->add_option("--shape", c->shapes, "NAME=d0,d1,...: compile for this input shape");
  compile->callback([c] { compile_command(*c); });

  auto* cache = app.add_subcommand("cache", "Inspect or trim the model cache");
  cache->require_subcommand(1);
  auto* list = cache->add_subcommand("list", "Every entry, most recently used first");
  list->callback([] {
    const sinter::CacheInfo info = sinter::Core(cli_settings().resolve()).cache_info();
    for (const auto& e : info.entries) {
      std::printf("%-8s %s  %9s  %s  %s%s%s\n", e.kind.c_str(), e.key.substr(0, 12).c_str(),
                  human_bytes(double(e.bytes)).c_str(), when(e.last_used_unix).c_str(),
                  e.source.c_str(), e.device.empty() ? "" : (" on " + e.device).c_str(),
                  e.shapes.empty() ? "" : (" " + e.shapes).c_str());
    }
    if (info.entries.empty()) std::printf("(empty: %s)\n", info.dir.c_str());
  });
  auto* info_cmd = cache->add_subcommand("info", "Where the cache is, its size and its cap");
  info_cmd->callback([] {
    const sinter::CacheInfo info = sinter::Core(cli_settings().resolve()).cache_info();
    int64_t models = 0, compiles = 0;
    for (const auto& e : info.entries) (e.kind == "compiled" ? compiles : models)++;
    std::printf(
        "folder:  %s\nenabled: %s\nsize:    %s of %s\nentries: %lld models, %lld compiles\n",
        info.dir.c_str(), info.enabled ? "yes" : "no",
        human_bytes(double(info.total_bytes)).c_str(), human_bytes(double(info.max_bytes)).c_str(),
        static_cast<long long>(models), static_cast<long long>(compiles));
  });
  auto max_size = std::make_shared<std::string>();
  auto* prune = cache->add_subcommand("prune", "Evict least-recently-used models down to the cap");
  prune->add_option("--max-size", *max_size,
                    "Target size, e.g. 2GiB (default: the cache_size setting)");
  prune->callback([max_size] {
    const sinter::Config config = cli_settings().resolve();
    const int64_t target = max_size->empty() ? config.cache_size_bytes()
                                             : sinter::parse_byte_size(*max_size, "--max-size");
    const int64_t freed = sinter::Core(config).prune_cache(target);
    std::printf("freed %s\n", human_bytes(double(freed)).c_str());
  });
  auto* clear = cache->add_subcommand("clear", "Remove every entry");
  clear->callback([] {
    const int64_t freed = sinter::Core(cli_settings().resolve()).clear_cache();
    std::printf("freed %s\n", human_bytes(double(freed)).c_str());
  });
}

}  // namespace sinter_cli
