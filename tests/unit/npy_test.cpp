// .npy reading and writing, checked against the byte layout of NumPy's format specification.
#include <gtest/gtest.h>

#include <cstring>

#include "base/npy.hpp"
#include "sinter/error.hpp"

using namespace sinter;

namespace {
std::string npy_bytes(const std::string& dict, const std::string& payload) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}
}  // namespace

TEST(Npy, ParsesAHandWrittenFile) {
  const float values[] = {1.5f, -2.f, 3.f, 4.25f, 5.f, 6.f};
  const std::string bytes = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                      std::string(reinterpret_cast<const char*>(values), 24));
  Tensor t = parse_npy(bytes, "x.npy");
  EXPECT_EQ(t.element_type(), ElementType::f32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.data_as<float>()[0], 1.5f);
  EXPECT_EQ(t.data_as<float>()[5], 6.f);
}

TEST(Npy, WritesTheStandardHeader) {
  Tensor t(ElementType::i64, {3});
  const std::string bytes = serialize_npy(t);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(bytes.find("'descr': '<i8'"), std::string::npos);
  EXPECT_NE(bytes.find("'shape': (3,)"), std::string::npos);
  EXPECT_EQ((bytes.size() - 3 * 8) % 64, 0u);  // data is 64-byte aligned
}

TEST(Npy, RoundTripsEveryType) {
  for (ElementType type :
       {ElementType::f32, ElementType::f64, ElementType::f16, ElementType::i8, ElementType::u8,
        ElementType::i16, ElementType::u16, ElementType::i32, ElementType::u32, ElementType::i64,
        ElementType::u64, ElementType::boolean}) {
    Tensor t(type, {2, 2});
    std::memset(t.data(), 1, t.byte_size());
    Tensor back = parse_npy(serialize_npy(t), "rt.npy");
    EXPECT_EQ(back.element_type(), type);
    EXPECT_EQ(back.shape(), t.shape());
    EXPECT_EQ(std::memcmp(back.data(), t.data(), t.byte_size()), 0);
  }
  Tensor scalar(ElementType::f32, {});
  EXPECT_EQ(parse_npy(serialize_npy(scalar), "s.npy").shape(), Shape{});
}

TEST(Npy, RejectsMalformedFilesWithIoError) {
  auto category_of = [](const std::string& bytes) {
    try {
      parse_npy(bytes, "bad.npy");
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.npy"), std::string::npos);
      return e.category();
    }
    return ErrorCategory::internal;
  };
  EXPECT_EQ(category_of("not numpy at all"), ErrorCategory::io_error);
  EXPECT_EQ(
      category_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "ab")),
      ErrorCategory::io_error);  // truncated data
  EXPECT_EQ(
      category_of(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", "abcd")),
      ErrorCategory::io_error);
  EXPECT_EQ(category_of(
                npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "abcdefgh")),
            ErrorCategory::io_error);
  EXPECT_EQ(category_of(std::string("\x93NUMPY\x01\x00\xff\x00", 10)), ErrorCategory::io_error);
}
