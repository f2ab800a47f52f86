#include "sinter/compare.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "base/errors.hpp"
#include "base/half.hpp"

namespace sinter {

double element_as_double(const Tensor& t, int64_t i) {
  switch (t.element_type()) {
    case ElementType::f32:
      return t.data_as<float>()[i];
    case ElementType::f64:
      return t.data_as<double>()[i];
    case ElementType::f16:
      return float(t.data_as<f16>()[i]);
    case ElementType::bf16:
      return float(t.data_as<bf16>()[i]);
    case ElementType::i8:
      return t.data_as<int8_t>()[i];
    case ElementType::i16:
      return t.data_as<int16_t>()[i];
    case ElementType::i32:
      return t.data_as<int32_t>()[i];
    case ElementType::i64:
      return static_cast<double>(t.data_as<int64_t>()[i]);
    case ElementType::u8:
      return t.data_as<uint8_t>()[i];
    case ElementType::u16:
      return t.data_as<uint16_t>()[i];
    case ElementType::u32:
      return t.data_as<uint32_t>()[i];
    case ElementType::u64:
      return static_cast<double>(t.data_as<uint64_t>()[i]);
    case ElementType::boolean:
      return t.data_as<uint8_t>()[i] ? 1 : 0;
    default:
      raise(ErrorCategory::invalid_argument, "element type {} is not numeric",
            to_string(t.element_type()));
  }
}

namespace {

bool elements_match(const Tensor& a, const Tensor& e, int64_t i, const Tolerance& tol,
                    double& diff) {
  diff = 0;
  switch (e.element_type()) {
    case ElementType::string:
      return a.data_as<std::string>()[i] == e.data_as<std::string>()[i];
    case ElementType::i64:
    case ElementType::u64:
      // Exact: doubles cannot hold every 64-bit integer.
      if (std::memcmp(static_cast<const char*>(a.data()) + i * 8,
                      static_cast<const char*>(e.data()) + i * 8, 8) == 0)
        return true;
      diff = std::fabs(element_as_double(a, i) - element_as_double(e, i));
      return false;
    default:
      break;
  }
  const double x = element_as_double(a, i), y = element_as_double(e, i);
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  if (std::isinf(x) || std::isinf(y)) return x == y;
  diff = std::fabs(x - y);
  return diff <= tol.atol + tol.rtol * std::fabs(y);
}

}  // namespace

TensorComparison compare_tensors(const Tensor& actual, const Tensor& expected,
                                 const Tolerance& tol) {
  TensorComparison r;
  if (actual.element_type() != expected.element_type() || actual.shape() != expected.shape()) {
    r.layout_error = std::string("got ") + to_string(actual.element_type()) +
                     to_string(actual.shape()) + ", expected " +
                     to_string(expected.element_type()) + to_string(expected.shape());
    return r;
  }
  r.elements = expected.element_count();
  const bool numeric = expected.element_type() != ElementType::string;
  for (int64_t i = 0; i < r.elements; ++i) {
    double diff = 0;
    if (!elements_match(actual, expected, i, tol, diff)) {
      if (r.first_mismatch < 0) r.first_mismatch = i;
      ++r.mismatches;
    }
    if (!numeric) continue;
    const double x = element_as_double(actual, i), y = element_as_double(expected, i);
    if (!std::isfinite(x) || !std::isfinite(y)) ++r.non_finite;
    if (std::isfinite(y)) r.max_abs_expected = std::max(r.max_abs_expected, std::fabs(y));
    if (diff > r.max_abs_diff) {
      r.max_abs_diff = diff;
      r.worst_index = i;
    }
  }
  return r;
}

std::string TensorComparison::summary(const std::string& name, const Tolerance& tol) const {
  if (!layout_error.empty()) return name + ": " + layout_error;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s: %lld elements (max |expected| %.3g), max |diff| %.3g%s, %lld outside atol "
                "%.1g + rtol %.1g%s",
                name.c_str(), static_cast<long long>(elements), max_abs_expected, max_abs_diff,
                worst_index >= 0 ? (" at #" + std::to_string(worst_index)).c_str() : "",
                static_cast<long long>(mismatches), tol.atol, tol.rtol,
                non_finite ? (", " + std::to_string(non_finite) + " NaN/Inf").c_str() : "");
  return buf;
}

}  // namespace sinter
