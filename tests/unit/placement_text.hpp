// Placement texts without the oneDNN kernel name the CPU device appends (" [brgconv:avx512_core]",
// which depends on the CPU the tests run on), for tests that check what a node became.
#pragma once

#include <string>
#include <vector>

inline std::string kernel_free(const std::string& implementation) {
  return implementation.substr(0, implementation.find(" ["));
}

inline std::vector<std::string> kernel_free(const std::vector<std::string>& implementations) {
  std::vector<std::string> out;
  out.reserve(implementations.size());
  for (const auto& implementation : implementations) out.push_back(kernel_free(implementation));
  return out;
}
