#pragma once
// sinter's settings with one precedence: command line > environment > config file > default.
//
//   sinter::Config config = sinter::Config::resolve({{"device", "GPU.1"}}, "");
//   config.get("device");                 // "GPU.1"
//   config.setting("device").source;      // "command line"
//   for (auto& w : config.warnings()) ... // one per key that two sources set differently
//
// Keys (environment variable, default):
//   device        SINTER_DEVICE        CPU
//   cache_dir     SINTER_CACHE_DIR     $XDG_CACHE_HOME/sinter, else ~/.cache/sinter
//   log_level     SINTER_LOG_LEVEL     warn      (trace, debug, info, warn, error, off)
//   threads       SINTER_THREADS       0         (0: one per core)
//   precision     SINTER_PRECISION     f32       (f32, f16, bf16; a device without it refuses)
//   weights       SINTER_WEIGHTS       f32       (f32, f16, int8: how the CPU keeps packed
//                                                 weights; widened to f32 per layer and run)
//   hetero_policy SINTER_HETERO_POLICY first     (first: first device supporting a node;
//                                                 memory: devices filled in order, see docs)
//   runtime_fallback SINTER_RUNTIME_FALLBACK on  (AUTO re-runs a failed inference on the CPU)
//   memory_limit  SINTER_MEMORY_LIMIT  ""        (none; sizes like 512MiB, 2GB, 1e9)
//   cache_size    SINTER_CACHE_SIZE    10GiB
//   cache         SINTER_CACHE         on        (on or off)
// The config file is `--config FILE`, else ./sinter.json, else $XDG_CONFIG_HOME/sinter/config.json
// (~/.config/sinter/config.json): a JSON object with the keys above. An unknown key or a bad
// value anywhere is an invalid_argument error naming the key and where it came from.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sinter {

struct Setting {
  std::string key;
  std::string value;
  std::string
      source;  // "command line", "environment SINTER_DEVICE", "file ./sinter.json", "default"
};

class Config {
 public:
  // `command_line` holds the flags the user gave (key -> value); `config_file` is --config's
  // value or empty for the default search.
  static Config resolve(const std::map<std::string, std::string>& command_line,
                        const std::string& config_file = "");
  // Defaults and environment only (what a library user gets from Core()).
  static Config from_environment();

  const std::string& get(const std::string& key) const;
  const Setting& setting(const std::string& key) const;
  std::vector<Setting> all() const;
  // "device: command line says 'CPU', environment SINTER_DEVICE says 'AUTO'; using 'CPU'".
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The config file that was read, or empty.
  const std::string& file() const { return file_; }

  int threads() const;                 // 0: one per core
  int64_t memory_limit_bytes() const;  // 0: no limit
  int64_t cache_size_bytes() const;
  bool cache_enabled() const;

  static std::vector<std::string> keys();

 private:
  static Config build(const std::map<std::string, std::string>& command_line,
                      const std::string& config_file, bool read_file);
  std::map<std::string, Setting> settings_;
  std::vector<std::string> warnings_;
  std::string file_;
};

// "512MiB", "2 GB", "1.5GiB", "1000000" -> bytes; raises invalid_argument naming `what`.
int64_t parse_byte_size(const std::string& text, const std::string& what);

}  // namespace sinter
