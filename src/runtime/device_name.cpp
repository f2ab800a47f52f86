#include "runtime/device_name.hpp"

#include <algorithm>
#include <cctype>

#include "base/errors.hpp"

namespace sinter::runtime {

namespace {

constexpr const char* kGrammar =
    "expected CPU, GPU, GPU.N, N, HETERO:D1,D2,..., AUTO, AUTO:D1,D2,... or AUTO:-D1,-D2,...";

std::string normalise(const std::string& text) {
  std::string s;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c)))
      s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 4 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// `s` is already normalised; empty string when it is not a simple name.
std::string simple_or_empty(const std::string& s) {
  if (s == "CPU") return "CPU";
  if (s == "GPU") return "GPU.0";
  if (all_digits(s)) return "GPU." + std::to_string(std::stoi(s));
  if (s.rfind("GPU.", 0) == 0 && all_digits(s.substr(4))) {
    return "GPU." + std::to_string(std::stoi(s.substr(4)));
  }
  return "";
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    items.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

[[noreturn]] void bad_name(const std::string& text, const std::string& why) {
  raise(ErrorCategory::invalid_argument, "device name '{}': {} ({})", text, why, kGrammar);
}

}  // namespace

std::string canonical_simple_name(const std::string& text) {
  const std::string s = simple_or_empty(normalise(text));
  if (s.empty()) bad_name(text, "not a device");
  return s;
}

DeviceRequest parse_device_name(const std::string& text) {
  DeviceRequest r;
  r.text = text;
  const std::string s = normalise(text);
  if (s.empty()) bad_name(text, "empty");

  auto parse_list = [&](const std::string& list, bool allow_excludes) {
    for (const std::string& item : split_list(list)) {
      const bool exclude = allow_excludes && !item.empty() && item[0] == '-';
      const std::string name = simple_or_empty(exclude ? item.substr(1) : item);
      if (name.empty())
        bad_name(text, item.empty() ? "empty list entry" : "'" + item + "' is not a device");
      auto& target = exclude ? r.excluded : r.devices;
      if (std::find(r.devices.begin(), r.devices.end(), name) != r.devices.end() ||
          std::find(r.excluded.begin(), r.excluded.end(), name) != r.excluded.end()) {
        bad_name(text, name + " is named twice");
      }
      target.push_back(name);
    }
    if (!r.devices.empty() && !r.excluded.empty()) {
      bad_name(text, "AUTO takes either a list of devices or a list of exclusions, not both");
    }
  };

  if (s.rfind("HETERO:", 0) == 0) {
    r.kind = DeviceRequest::Kind::hetero;
    parse_list(s.substr(7), false);
    return r;
  }
  if (s == "HETERO") bad_name(text, "HETERO needs a device list, e.g. HETERO:GPU.0,CPU");
  if (s == "AUTO") {
    r.kind = DeviceRequest::Kind::auto_select;
    return r;
  }
  if (s.rfind("AUTO:", 0) == 0) {
    r.kind = DeviceRequest::Kind::auto_select;
    parse_list(s.substr(5), true);
    return r;
  }
  const std::string name = simple_or_empty(s);
  if (name.empty()) bad_name(text, "not a device");
  r.devices.push_back(name);
  return r;
}

std::string DeviceRequest::canonical() const {
  auto join = [](const std::vector<std::string>& v, const std::string& prefix) {
    std::string out;
    for (const auto& d : v) out += (out.empty() ? "" : ",") + prefix + d;
    return out;
  };
  switch (kind) {
    case Kind::single:
      return devices.empty() ? "" : devices[0];
    case Kind::hetero:
      return "HETERO:" + join(devices, "");
    case Kind::auto_select:
      if (!devices.empty()) return "AUTO:" + join(devices, "");
      if (!excluded.empty()) return "AUTO:" + join(excluded, "-");
      return "AUTO";
  }
  return "";
}

}  // namespace sinter::runtime
