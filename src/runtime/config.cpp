#include "sinter/config.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/errors.hpp"
#include "runtime/device_name.hpp"

namespace sinter {

namespace {

namespace fs = std::filesystem;

struct KeySpec {
  const char* key;
  const char* env;
};

const KeySpec kKeys[] = {
    {"device", "SINTER_DEVICE"},
    {"cache_dir", "SINTER_CACHE_DIR"},
    {"log_level", "SINTER_LOG_LEVEL"},
    {"threads", "SINTER_THREADS"},
    {"precision", "SINTER_PRECISION"},
    {"weights", "SINTER_WEIGHTS"},
    {"hetero_policy", "SINTER_HETERO_POLICY"},
    {"runtime_fallback", "SINTER_RUNTIME_FALLBACK"},
    {"memory_limit", "SINTER_MEMORY_LIMIT"},
    {"cache_size", "SINTER_CACHE_SIZE"},
    {"cache", "SINTER_CACHE"},
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string default_value(const std::string& key) {
  if (key == "device") return "CPU";
  if (key == "cache_dir") {
    const std::string xdg = env_or("XDG_CACHE_HOME", "");
    if (!xdg.empty()) return xdg + "/sinter";
    return env_or("HOME", ".") + "/.cache/sinter";
  }
  if (key == "log_level") return "warn";
  if (key == "threads") return "0";
  if (key == "precision") return "f32";
  if (key == "weights") return "f32";
  if (key == "hetero_policy") return "first";
  if (key == "runtime_fallback") return "on";
  if (key == "memory_limit") return "";
  if (key == "cache_size") return "10GiB";
  if (key == "cache") return "on";
  return "";
}

// Raises invalid_argument when `value` is not acceptable for `key`; `where` names the source.
void validate(const std::string& key, const std::string& value, const std::string& where) {
  auto bad = [&](const std::string& why) {
    raise(ErrorCategory::invalid_argument, "{}: {} = '{}' {}", where, key, value, why);
  };
  if (key == "device") {
    try {
      runtime::parse_device_name(value);
    } catch (const Error& e) {
      bad(std::string("is not a device name: ") + e.what());
    }
  } else if (key == "log_level") {
    static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
    if (std::find(std::begin(levels), std::end(levels), value) == std::end(levels))
      bad("is not one of trace, debug, info, warn, error, off");
  } else if (key == "threads") {
    const bool digits =
        !value.empty() && value.size() < 6 && std::all_of(value.begin(), value.end(), ::isdigit);
    if (!digits) bad("is not a thread count (0 = one per core)");
  } else if (key == "precision") {
    if (value != "f32" && value != "f16" && value != "bf16") bad("is not one of f32, f16, bf16");
  } else if (key == "weights") {
    if (value != "f32" && value != "f16" && value != "int8") bad("is not one of f32, f16, int8");
  } else if (key == "hetero_policy") {
    if (value != "first" && value != "memory") bad("is not first or memory");
  } else if (key == "memory_limit") {
    if (!value.empty()) parse_byte_size(value, where + ": " + key);
  } else if (key == "cache_size") {
    parse_byte_size(value, where + ": " + key);
  } else if (key == "cache" || key == "runtime_fallback") {
    if (value != "on" && value != "off") bad("is not on or off");
  } else if (key == "cache_dir") {
    if (value.empty()) bad("is empty");
  }
}

bool known_key(const std::string& key) {
  return std::any_of(std::begin(kKeys), std::end(kKeys),
                     [&](const KeySpec& k) { return key == k.key; });
}

// The config file to read: the one given, else ./sinter.json, else the XDG one; "" when none.
std::string find_config_file(const std::string& given) {
  if (!given.empty()) {
    SINTER_CHECK(fs::is_regular_file(given), io_error, "config file '{}' does not exist", given);
    return given;
  }
  if (fs::is_regular_file("sinter.json")) return "./sinter.json";
  const std::string xdg = env_or("XDG_CONFIG_HOME", env_or("HOME", ".") + "/.config");
  const std::string path = xdg + "/sinter/config.json";
  return fs::is_regular_file(path) ? path : "";
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  std::ifstream in(path);
  SINTER_CHECK(in, io_error, "cannot read config file '{}'", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    raise(ErrorCategory::invalid_argument, "config file '{}' is not valid JSON: {}", path,
          e.what());
  }
  SINTER_CHECK(j.is_object(), invalid_argument, "config file '{}' must hold a JSON object", path);
  std::map<std::string, std::string> values;
  for (const auto& [key, v] : j.items()) {
    if (!known_key(key)) {
      std::string keys;
      for (const auto& k : kKeys) keys += std::string(keys.empty() ? "" : ", ") + k.key;
      raise(ErrorCategory::invalid_argument, "config file '{}': unknown key '{}' (known: {})", path,
            key, keys);
    }
    if (v.is_string()) {
      values[key] = v.get<std::string>();
    } else if (v.is_number_integer() || v.is_number_unsigned()) {
      values[key] = std::to_string(v.get<int64_t>());
    } else if (v.is_boolean()) {
      values[key] = v.get<bool>() ? "on" : "off";
    } else {
      raise(ErrorCategory::invalid_argument,
            "config file '{}': key '{}' must be a string or a number, got {}", path, key, v.dump());
    }
  }
  return values;
}

}  // namespace

Config Config::build(const std::map<std::string, std::string>& command_line,
                     const std::string& file, bool read_file_and_flags) {
  for (const auto& [key, value] : command_line) {
    SINTER_CHECK(known_key(key), invalid_argument, "unknown setting '{}'", key);
    (void)value;
  }
  std::map<std::string, std::string> from_file;
  std::string file_path;
  if (read_file_and_flags) {
    file_path = find_config_file(file);
    if (!file_path.empty()) from_file = read_config_file(file_path);
  }
  struct Candidate {
    std::string value, source;
  };
  Config config;
  config.file_ = file_path;
  for (const auto& k : kKeys) {
    std::vector<Candidate> given;  // highest precedence first
    if (auto it = command_line.find(k.key); it != command_line.end())
      given.push_back({it->second, "command line"});
    if (const char* env = std::getenv(k.env); env && *env)
      given.push_back({env, std::string("environment ") + k.env});
    if (auto it = from_file.find(k.key); it != from_file.end())
      given.push_back({it->second, "file " + file_path});
    for (const auto& c : given) validate(k.key, c.value, c.source);
    const Candidate chosen = given.empty() ? Candidate{default_value(k.key), "default"} : given[0];
    config.settings_[k.key] = Setting{k.key, chosen.value, chosen.source};
    // Device names are compared in canonical form: "cpu" and "CPU" agree.
    auto same = [&](const std::string& a, const std::string& b) {
      if (std::string(k.key) != "device") return a == b;
      return runtime::parse_device_name(a).canonical() == runtime::parse_device_name(b).canonical();
    };
    const bool conflict = std::any_of(given.begin(), given.end(), [&](const Candidate& c) {
      return !same(c.value, chosen.value);
    });
    if (conflict) {
      std::string w = std::string(k.key) + ": ";
      for (size_t i = 0; i < given.size(); ++i)
        w += (i ? ", " : "") + given[i].source + " says '" + given[i].value + "'";
      w += "; using '" + chosen.value + "' (" + chosen.source + " wins)";
      config.warnings_.push_back(w);
    }
  }
  return config;
}

Config Config::resolve(const std::map<std::string, std::string>& command_line,
                       const std::string& config_file) {
  return build(command_line, config_file, true);
}

Config Config::from_environment() {
  return build({}, "", false);
}

const Setting& Config::setting(const std::string& key) const {
  auto it = settings_.find(key);
  SINTER_CHECK(it != settings_.end(), invalid_argument, "unknown setting '{}'", key);
  return it->second;
}

const std::string& Config::get(const std::string& key) const {
  return setting(key).value;
}

std::vector<Setting> Config::all() const {
  std::vector<Setting> out;
  for (const auto& k : kKeys) out.push_back(settings_.at(k.key));
  return out;
}

std::vector<std::string> Config::keys() {
  std::vector<std::string> out;
  for (const auto& k : kKeys) out.push_back(k.key);
  return out;
}

int Config::threads() const {
  return std::stoi(get("threads"));
}

int64_t Config::memory_limit_bytes() const {
  const std::string& v = get("memory_limit");
  return v.empty() ? 0 : parse_byte_size(v, "memory_limit");
}

int64_t Config::cache_size_bytes() const {
  return parse_byte_size(get("cache_size"), "cache_size");
}

bool Config::cache_enabled() const {
  return get("cache") == "on";
}

int64_t parse_byte_size(const std::string& text, const std::string& what) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  size_t pos = 0;
  double number = 0;
  try {
    number = std::stod(s, &pos);
  } catch (...) {
    pos = 0;
  }
  std::string unit = s.substr(pos);
  std::transform(unit.begin(), unit.end(), unit.begin(), ::tolower);
  static const std::pair<const char*, double> units[] = {{"", 1},
                                                         {"b", 1},
                                                         {"k", 1e3},
                                                         {"kb", 1e3},
                                                         {"kib", 1024.0},
                                                         {"m", 1e6},
                                                         {"mb", 1e6},
                                                         {"mib", 1048576.0},
                                                         {"g", 1e9},
                                                         {"gb", 1e9},
                                                         {"gib", 1073741824.0},
                                                         {"t", 1e12},
                                                         {"tb", 1e12},
                                                         {"tib", 1099511627776.0}};
  for (const auto& [name, scale] : units) {
    if (pos > 0 && unit == name && number >= 0 && std::isfinite(number)) {
      return static_cast<int64_t>(std::llround(number * scale));
    }
  }
  raise(ErrorCategory::invalid_argument,
        "{}: '{}' is not a size (examples: 512MiB, 2GB, 1.5GiB, 1000000)", what, text);
}

}  // namespace sinter
