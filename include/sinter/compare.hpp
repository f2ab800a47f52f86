#pragma once
// Element-wise comparison of two tensors within a tolerance, as used by `sinter compare`, the
// conformance runner and the differential tests.

#include <cstdint>
#include <string>

#include "sinter/tensor.hpp"

namespace sinter {

// Elements match when |actual - expected| <= atol + rtol * |expected|. NaN matches NaN, an
// infinity matches the same infinity; 64-bit integers and strings must be equal.
struct Tolerance {
  double atol = 1e-5;
  double rtol = 1e-3;
};

struct TensorComparison {
  std::string layout_error;  // non-empty when element types or shapes differ
  int64_t elements = 0;
  int64_t mismatches = 0;
  int64_t first_mismatch = -1;
  int64_t worst_index = -1;  // element with the largest |actual - expected|
  double max_abs_diff = 0;
  double max_abs_expected = 0;
  int64_t non_finite = 0;  // NaN or infinite elements in either tensor

  bool ok() const { return layout_error.empty() && mismatches == 0; }
  // One line: "NAME: N elements, max |diff| D at #I, M outside atol A + rtol R".
  std::string summary(const std::string& name, const Tolerance& tol) const;
};

TensorComparison compare_tensors(const Tensor& actual, const Tensor& expected,
                                 const Tolerance& tol);

// Element `i` of a numeric or boolean tensor as a double (f16 and bf16 included).
double element_as_double(const Tensor& t, int64_t i);

}  // namespace sinter
