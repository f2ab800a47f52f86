// The device-name grammar users type (docs/devices.md):
//
//   device  := simple | "HETERO:" list | "AUTO" [":" list] | "AUTO:" "-" simple ("," "-" simple)*
//   simple  := "CPU" | "GPU" | "GPU." N | N        (a bare N means GPU.N; GPU means GPU.0)
//   list    := simple ("," simple)*
//
// Case-insensitive; spaces are ignored. Parsing is purely syntactic: whether a named device
// exists is decided later, against the device registry.
//
//   DeviceRequest r = parse_device_name(" hetero: 1, cpu ");
//   // r.kind == DeviceRequest::Kind::hetero, r.devices == {"GPU.1", "CPU"}
#pragma once

#include <string>
#include <vector>

namespace sinter::runtime {

struct DeviceRequest {
  enum class Kind { single, hetero, auto_select };
  Kind kind = Kind::single;
  std::vector<std::string> devices;   // canonical simple names: "CPU", "GPU.0", ...
  std::vector<std::string> excluded;  // AUTO:-X,-Y
  std::string text;                   // what the user typed

  // "CPU", "HETERO:GPU.0,CPU", "AUTO", "AUTO:GPU.1,CPU", "AUTO:-CPU".
  std::string canonical() const;
};

// Raises invalid_argument with a message that quotes the text and shows the grammar.
DeviceRequest parse_device_name(const std::string& text);

// "GPU" -> "GPU.0", "3" -> "GPU.3", "cpu" -> "CPU"; raises invalid_argument otherwise.
std::string canonical_simple_name(const std::string& text);

}  // namespace sinter::runtime
