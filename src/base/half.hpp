// 16-bit floating-point storage types (IEEE binary16 and bfloat16).
//
// They are storage types: arithmetic converts to float, so templated kernels written for
// `float` work unchanged (`T r = T(float(a) + float(b))`). Conversions round to nearest even.
#pragma once

#include <cstdint>
#include <cstring>

namespace sinter {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t float_to_half_bits(float f);
float half_bits_to_float(uint16_t h);

struct f16 {
  uint16_t bits = 0;
  f16() = default;
  f16(float f) : bits(float_to_half_bits(f)) {}  // NOLINT: implicit like a builtin float type
  operator float() const { return half_bits_to_float(bits); }
};

struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  bf16(float f) {  // NOLINT
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = static_cast<uint16_t>((u >> 16) | 0x40);  // keep NaN a (quiet) NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  operator float() const { return bits_float(static_cast<uint32_t>(bits) << 16); }
};

static_assert(sizeof(f16) == 2 && sizeof(bf16) == 2);

}  // namespace sinter
