// Settings precedence (command line > environment > config file > default), the conflict
// warning, and the errors for unknown keys and bad values.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "sinter/config.hpp"
#include "sinter/error.hpp"

namespace fs = std::filesystem;
using sinter::Config;

namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sinter_config_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* v :
         {"SINTER_DEVICE", "SINTER_CACHE_DIR", "SINTER_LOG_LEVEL", "SINTER_THREADS",
          "SINTER_MEMORY_LIMIT", "SINTER_CACHE_SIZE", "SINTER_CACHE", "SINTER_WEIGHTS"})
      unsetenv(v);
    // Keep the user's own config files out of the test.
    setenv("XDG_CONFIG_HOME", (dir_ / "xdg").c_str(), 1);
  }
  void TearDown() override {
    unsetenv("SINTER_DEVICE");
    unsetenv("SINTER_THREADS");
    fs::remove_all(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

sinter::ErrorCategory category_of(const std::function<void()>& f, std::string* message) {
  try {
    f();
  } catch (const sinter::Error& e) {
    *message = e.what();
    return e.category();
  }
  return sinter::ErrorCategory::internal;
}

}  // namespace

TEST_F(ConfigTest, DefaultsWhenNothingIsSet) {
  const Config c = Config::resolve({}, "");
  EXPECT_EQ(c.get("device"), "CPU");
  EXPECT_EQ(c.setting("device").source, "default");
  EXPECT_EQ(c.threads(), 0);
  EXPECT_EQ(c.memory_limit_bytes(), 0);
  EXPECT_EQ(c.cache_size_bytes(), int64_t{10} << 30);
  EXPECT_TRUE(c.cache_enabled());
  EXPECT_EQ(c.get("weights"), "f32");
  EXPECT_TRUE(c.warnings().empty());
}

TEST_F(ConfigTest, CommandLineBeatsEnvironmentBeatsFileBeatsDefault) {
  const std::string file = write("s.json", R"({"device": "GPU.1", "threads": 3, "cache": false})");
  setenv("SINTER_DEVICE", "AUTO", 1);
  setenv("SINTER_THREADS", "2", 1);
  const Config c = Config::resolve({{"device", "CPU"}}, file);
  EXPECT_EQ(c.get("device"), "CPU");
  EXPECT_EQ(c.setting("device").source, "command line");
  EXPECT_EQ(c.get("threads"), "2");
  EXPECT_EQ(c.setting("threads").source, "environment SINTER_THREADS");
  EXPECT_FALSE(c.cache_enabled());
  EXPECT_EQ(c.setting("cache").source, "file " + file);
  EXPECT_EQ(c.get("log_level"), "warn");
  EXPECT_EQ(c.setting("log_level").source, "default");
  EXPECT_EQ(c.file(), file);
}

TEST_F(ConfigTest, OneWarningPerConflictNamingEverySourceAndTheWinner) {
  const std::string file = write("s.json", R"({"device": "GPU.1", "threads": 2})");
  setenv("SINTER_DEVICE", "AUTO", 1);
  setenv("SINTER_THREADS", "2", 1);  // agrees with the file: no warning for threads
  const Config c = Config::resolve({{"device", "cpu"}}, file);
  ASSERT_EQ(c.warnings().size(), 1u);
  const std::string& w = c.warnings()[0];
  EXPECT_NE(w.find("device"), std::string::npos) << w;
  EXPECT_NE(w.find("command line says 'cpu'"), std::string::npos) << w;
  EXPECT_NE(w.find("environment SINTER_DEVICE says 'AUTO'"), std::string::npos) << w;
  EXPECT_NE(w.find("says 'GPU.1'"), std::string::npos) << w;
  EXPECT_NE(w.find("using 'cpu' (command line wins)"), std::string::npos) << w;
}

TEST_F(ConfigTest, EquivalentDeviceSpellingsDoNotConflict) {
  setenv("SINTER_DEVICE", "cpu", 1);
  EXPECT_TRUE(Config::resolve({{"device", "CPU"}}, "").warnings().empty());
}

TEST_F(ConfigTest, UnknownKeyInFileNamesKeyAndFile) {
  const std::string file = write("bad.json", R"({"devise": "CPU"})");
  std::string msg;
  EXPECT_EQ(category_of([&] { Config::resolve({}, file); }, &msg),
            sinter::ErrorCategory::invalid_argument);
  EXPECT_NE(msg.find("devise"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
}

TEST_F(ConfigTest, BadValuesNameKeyAndSource) {
  std::string msg;
  const std::string file = write("t.json", R"({"threads": "many"})");
  EXPECT_EQ(category_of([&] { Config::resolve({}, file); }, &msg),
            sinter::ErrorCategory::invalid_argument);
  EXPECT_NE(msg.find("threads"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file), std::string::npos) << msg;

  setenv("SINTER_DEVICE", "TPU", 1);
  EXPECT_EQ(category_of([&] { Config::resolve({}, ""); }, &msg),
            sinter::ErrorCategory::invalid_argument);
  EXPECT_NE(msg.find("environment SINTER_DEVICE"), std::string::npos) << msg;

  unsetenv("SINTER_DEVICE");
  EXPECT_EQ(category_of(
                [&] {
                  Config::resolve({{"memory_limit", "lots"}}, "");
                },
                &msg),
            sinter::ErrorCategory::invalid_argument);
  EXPECT_NE(msg.find("memory_limit"), std::string::npos) << msg;

  EXPECT_EQ(category_of(
                [&] {
                  Config::resolve({{"weights", "int4"}}, "");
                },
                &msg),
            sinter::ErrorCategory::invalid_argument);
  EXPECT_NE(msg.find("weights = 'int4' is not one of f32, f16, int8"), std::string::npos) << msg;

  const std::string not_json = write("n.json", "{device: CPU");
  EXPECT_EQ(category_of([&] { Config::resolve({}, not_json); }, &msg),
            sinter::ErrorCategory::invalid_argument);
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
}

TEST_F(ConfigTest, MissingConfigFileIsAnIoError) {
  std::string msg;
  EXPECT_EQ(category_of([&] { Config::resolve({}, (dir_ / "none.json").string()); }, &msg),
            sinter::ErrorCategory::io_error);
}

TEST_F(ConfigTest, XdgConfigFileIsFoundWhenNoOtherIsGiven) {
  fs::create_directories(dir_ / "xdg" / "sinter");
  std::ofstream(dir_ / "xdg" / "sinter" / "config.json") << R"({"log_level": "info"})";
  const Config c = Config::resolve({}, "");
  EXPECT_EQ(c.get("log_level"), "info");
  EXPECT_EQ(c.setting("log_level").source, "file " + (dir_ / "xdg/sinter/config.json").string());
}

TEST(ByteSize, UnitsFollowSiAndIec) {
  EXPECT_EQ(sinter::parse_byte_size("512MiB", "x"), int64_t{512} << 20);
  EXPECT_EQ(sinter::parse_byte_size("2GB", "x"), int64_t{2000000000});
  EXPECT_EQ(sinter::parse_byte_size("1.5 GiB", "x"), int64_t{3} << 29);
  EXPECT_EQ(sinter::parse_byte_size("1000000", "x"), int64_t{1000000});
  EXPECT_EQ(sinter::parse_byte_size("64k", "x"), int64_t{64000});
  for (const char* bad : {"", "MiB", "-1GB", "12 parsecs", "1e999"}) {
    EXPECT_THROW(sinter::parse_byte_size(bad, "x"), sinter::Error) << bad;
  }
}
