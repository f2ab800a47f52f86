#include "base/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

#include "base/errors.hpp"

namespace sinter {

namespace {
spdlog::level::level_enum parse_level(const std::string& name) {
  auto level = spdlog::level::from_str(name);
  // from_str returns "off" for anything it does not know: accept "off" only when asked for.
  if (level == spdlog::level::off && name != "off") {
    raise(ErrorCategory::invalid_argument,
          "unknown log level '{}': use trace, debug, info, warn, error or off", name);
  }
  return level;
}
}  // namespace

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    // Not registered with spdlog's global registry: a host program may have its own "sinter".
    auto l = std::make_shared<spdlog::logger>(
        "sinter", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_pattern("[sinter] [%l] %v");
    l->set_level(spdlog::level::warn);
    if (const char* env = std::getenv("SINTER_LOG_LEVEL"); env && *env) {
      try {
        l->set_level(parse_level(env));
      } catch (const Error& e) {
        l->warn("SINTER_LOG_LEVEL ignored: {}", e.what());
      }
    }
    return l;
  }();
  return *logger;
}

void set_log_level(const std::string& level) {
  log().set_level(parse_level(level));
}

}  // namespace sinter
