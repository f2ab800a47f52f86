// sinter's logger (spdlog). Level from SINTER_LOG_LEVEL (trace, debug, info, warn, error, off);
// default warn, so library users see problems and nothing else.
#pragma once

#include <spdlog/spdlog.h>

namespace sinter {

spdlog::logger& log();
// Overrides the level, e.g. from a --log-level flag. Unknown names raise invalid_argument.
void set_log_level(const std::string& level);

}  // namespace sinter
