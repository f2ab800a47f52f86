// The numbered files of an ONNX backend test case, in number order: input_0.pb, input_1.pb, ...,
// input_10.pb (a plain sort would put input_10 before input_2); test_data_set_0, ... likewise.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace sinter::testing {

// Entries of `dir` named PREFIX<number>[.pb], ordered by number.
inline std::vector<std::filesystem::path> numbered_files(const std::filesystem::path& dir,
                                                         const std::string& prefix) {
  std::vector<std::pair<long, std::filesystem::path>> found;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) continue;
    if (!std::isdigit(static_cast<unsigned char>(name[prefix.size()]))) continue;
    found.emplace_back(std::stol(name.substr(prefix.size())), e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::filesystem::path> out;
  for (auto& [_, p] : found) out.push_back(std::move(p));
  return out;
}

}  // namespace sinter::testing
