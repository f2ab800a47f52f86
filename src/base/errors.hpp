// Helpers to raise sinter::Error with a formatted message.
//
//   SINTER_CHECK(rank >= 2, invalid_argument, "node '{}' (MatMul): input A has rank {}", n, r);
//   raise(ErrorCategory::io_error, "cannot open '{}': {}", path, std::strerror(errno));
//
// sinter uses the public exception type internally as well: a failure always travels to the
// caller with its category and message unchanged, and nothing is lost by translating.
#pragma once

#include <fmt/format.h>

#include "sinter/error.hpp"

namespace sinter {

template <typename... Args>
[[noreturn]] void raise(ErrorCategory category, fmt::format_string<Args...> format,
                        Args&&... args) {
  throw Error(category, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace sinter

#define SINTER_CHECK(condition, category, ...)                         \
  do {                                                                 \
    if (!(condition)) {                                                \
      ::sinter::raise(::sinter::ErrorCategory::category, __VA_ARGS__); \
    }                                                                  \
  } while (0)
