// f16/bf16 conversions against bit patterns from IEEE 754 binary16 and the bfloat16 definition.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "base/half.hpp"

using sinter::bf16;
using sinter::f16;

TEST(Half, ExactValuesHaveKnownBitPatterns) {
  EXPECT_EQ(f16(1.0f).bits, 0x3C00);
  EXPECT_EQ(f16(-2.0f).bits, 0xC000);
  EXPECT_EQ(f16(65504.0f).bits, 0x7BFF);               // largest finite
  EXPECT_EQ(f16(std::ldexp(1.0f, -14)).bits, 0x0400);  // smallest normal
  EXPECT_EQ(f16(std::ldexp(1.0f, -24)).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(f16(0.0f).bits, 0x0000);
  EXPECT_EQ(f16(-0.0f).bits, 0x8000);
}

TEST(Half, RoundsToNearestEven) {
  EXPECT_EQ(f16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3C00);      // tie -> even (down)
  EXPECT_EQ(f16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3C02);  // tie -> even (up)
  EXPECT_EQ(f16(65520.0f).bits, 0x7C00);                          // rounds to infinity
}

TEST(Half, SpecialValues) {
  EXPECT_EQ(f16(std::numeric_limits<float>::infinity()).bits, 0x7C00);
  EXPECT_TRUE(std::isnan(float(f16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(float(f16(1e6f))));
}

TEST(Half, DecodesEveryFiniteValueBackExactly) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    f16 h;
    h.bits = static_cast<uint16_t>(b);
    const float f = h;
    if (std::isnan(f)) continue;
    EXPECT_EQ(f16(f).bits, b) << "bits " << b;
  }
}

TEST(BFloat16, TruncatesWithRoundToNearestEven) {
  EXPECT_EQ(bf16(1.0f).bits, 0x3F80);
  EXPECT_EQ(bf16(-1.0f).bits, 0xBF80);
  EXPECT_EQ(float(bf16(3.140625f)), 3.140625f);
  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even (1.0).
  EXPECT_EQ(bf16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3F80);
  EXPECT_TRUE(std::isnan(float(bf16(std::nanf("")))));
}
