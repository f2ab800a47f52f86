// `sinter devices [--json]`: every device sinter can use, with what keys its cache entries.
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/cli/commands.hpp"
#include "sinter/sinter.hpp"

namespace sinter_cli {

namespace {

nlohmann::json device_json(const sinter::DeviceInfo& d) {
  return {{"name", d.name},
          {"full_name", d.full_name},
          {"type", d.type},
          {"driver", d.driver},
          {"memory_total_bytes", d.memory_total_bytes},
          {"memory_available_bytes", d.memory_available_bytes},
          {"capabilities", d.capabilities},
          {"caching_properties", d.caching_properties},
          {"properties", d.properties}};
}

void print_device(const sinter::DeviceInfo& d) {
  auto join = [](const auto& items) {
    std::string s;
    for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
    return s;
  };
  std::cout << d.name << "  " << d.full_name << "\n";
  std::cout << "  type:         " << d.type << "\n";
  std::cout << "  driver/ISA:   " << d.driver << "\n";
  std::cout << "  memory:       " << human_bytes(double(d.memory_total_bytes)) << " total, "
            << human_bytes(double(d.memory_available_bytes)) << " available\n";
  std::cout << "  capabilities: " << join(d.capabilities) << "\n";
  std::vector<std::string> props;
  for (const auto& [k, v] : d.caching_properties) props.push_back(k + "=" + v);
  std::cout << "  cache key:    " << join(props) << "\n";
  for (const auto& [k, v] : d.properties) std::cout << "  " << k << ": " << v << "\n";
}

}  // namespace

void add_devices_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "devices", "List the devices sinter can use, with memory, capabilities and cache keys");
  cmd->add_flag("--json", *json, "Print {\"devices\":[...]} as JSON");
  cmd->callback([json] {
    const auto devices = sinter::Core().available_devices();
    if (*json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& d : devices) list.push_back(device_json(d));
      std::cout << nlohmann::json{{"devices", list}}.dump(2) << "\n";
      return;
    }
    for (const auto& d : devices) print_device(d);
    std::cout << "Use a name above with -d; GPU.N may also be written N, and GPU means GPU.0.\n";
  });
}

}  // namespace sinter_cli
