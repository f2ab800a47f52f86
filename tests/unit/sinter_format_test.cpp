// Reading .sinter files whose weights are large enough that their checksums are computed on
// several threads (read_sinter_file splits tensors across threads from 16 MiB each): the values
// come back, and a flipped byte in any one tensor is an invalid_model error naming it.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "base/errors.hpp"
#include "ir/sinter_format.hpp"

using namespace sinter;

namespace {

constexpr int kTensors = 8;
constexpr int64_t kElements = int64_t{3} << 20;  // 12 MiB each, 96 MiB in all

// y_i = y_{i-1} + w_i with w_i[k] = i + k / 2^20: every weight a constant the file stores.
ir::Graph chain() {
  ir::Graph g;
  g.name = "chain";
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{kElements, ""}}});
  std::string previous = "x";
  for (int i = 0; i < kTensors; ++i) {
    Tensor w(ElementType::f32, {kElements});
    for (int64_t k = 0; k < kElements; ++k)
      w.data_as<float>()[k] = static_cast<float>(i) + static_cast<float>(k) / (1 << 20);
    const std::string name = "w" + std::to_string(i), out = "y" + std::to_string(i);
    g.constants[name] = w;
    g.add_node("Add", {previous, name}, {out}).name = "add" + std::to_string(i);
    previous = out;
  }
  g.outputs.push_back({previous, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  return g;
}

struct TempFile {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("sinter_format_test_" + std::to_string(::getpid()) + ".sinter"))
                         .string();
  ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

TEST(SinterFormat, LargeWeightsRoundTrip) {
  TempFile file;
  ir::write_sinter_file(chain(), file.path, {});
  const std::shared_ptr<ir::Graph> g = ir::read_sinter_file(file.path);
  ASSERT_EQ(g->constants.size(), static_cast<std::size_t>(kTensors));
  for (int i = 0; i < kTensors; ++i) {
    const Tensor& w = g->constants.at("w" + std::to_string(i));
    ASSERT_EQ(w.element_count(), kElements);
    for (int64_t k : {int64_t{0}, int64_t{12345}, kElements - 1})
      ASSERT_EQ(w.data_as<float>()[k], static_cast<float>(i) + static_cast<float>(k) / (1 << 20))
          << "w" << i << "[" << k << "]";
  }
}

TEST(SinterFormat, AFlippedByteInAnyTensorIsNamed) {
  TempFile file;
  ir::write_sinter_file(chain(), file.path, {});
  const auto size = std::filesystem::file_size(file.path);
  // Tensors lie in the order the writer met them at the end of the file: a byte in the middle
  // of the data section belongs to one of the middle ones, a byte near the end to the last.
  for (const std::uintmax_t at : {size - size / 3, size - 100}) {
    std::fstream f(file.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    const char original = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(original ^ 0x5a));
    f.close();
    try {
      ir::read_sinter_file(file.path);
      ADD_FAILURE() << "a flipped byte at " << at << " was not noticed";
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::invalid_model);
      const std::string what = e.what();
      EXPECT_NE(what.find("fails its checksum"), std::string::npos) << what;
      EXPECT_NE(what.find("tensor 'w"), std::string::npos) << what;
    }
    std::fstream g(file.path, std::ios::in | std::ios::out | std::ios::binary);
    g.seekp(static_cast<std::streamoff>(at));
    g.put(original);
  }
  EXPECT_NO_THROW(ir::read_sinter_file(file.path));  // restored: reads again
}
