// NumPy .npy files (format versions 1.0-3.0), little-endian, C order.
#pragma once

#include <string>

#include "sinter/tensor.hpp"

namespace sinter {

bool looks_like_npy(const std::string& bytes);
// `origin` names the file in error messages.
Tensor parse_npy(const std::string& bytes, const std::string& origin);
// bf16 tensors are written as float32 (NumPy has no bfloat16); strings are refused.
std::string serialize_npy(const Tensor& tensor);

}  // namespace sinter
