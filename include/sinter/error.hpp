// The one exception type of sinter's public API.
//
// Every failure that reaches a user is a sinter::Error with a category that a program can switch
// on and a message that names what and where (node, op, input, shapes, file):
//
//   try {
//     auto model = core.read_model("model.onnx");
//   } catch (const sinter::Error& e) {
//     if (e.category() == sinter::ErrorCategory::invalid_model) ...
//     std::cerr << e.what() << "\n";
//   }
#pragma once

#include <stdexcept>
#include <string>

namespace sinter {

enum class ErrorCategory {
  invalid_model,     // the model file or graph is malformed
  unsupported_op,    // an operator (or an attribute/dtype combination) the device cannot run
  device_not_found,  // a device name that matches no device
  out_of_memory,     // an allocation that cannot be satisfied
  invalid_argument,  // a wrong input name, dtype or shape, or a bad option
  cache_error,       // a corrupt or unusable cache entry
  io_error,          // a file that cannot be read or written
  device_error,      // a device or its driver failed (e.g. an OpenCL call)
  internal,          // a bug in sinter: please report it
};

// Lower-case name of a category, e.g. "invalid_model".
const char* to_string(ErrorCategory category);

class Error : public std::runtime_error {
 public:
  Error(ErrorCategory category, const std::string& message)
      : std::runtime_error(message), category_(category) {}
  ErrorCategory category() const noexcept { return category_; }

 private:
  ErrorCategory category_;
};

}  // namespace sinter
