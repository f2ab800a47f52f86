#include "base/npy.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/errors.hpp"
#include "base/half.hpp"

namespace sinter {

namespace {
constexpr char kMagic[] = "\x93NUMPY";

struct NpyType {
  const char* descr;
  ElementType type;
};
constexpr NpyType kTypes[] = {
    {"f4", ElementType::f32}, {"f8", ElementType::f64}, {"f2", ElementType::f16},
    {"i1", ElementType::i8},  {"u1", ElementType::u8},  {"i2", ElementType::i16},
    {"u2", ElementType::u16}, {"i4", ElementType::i32}, {"u4", ElementType::u32},
    {"i8", ElementType::i64}, {"u8", ElementType::u64}, {"b1", ElementType::boolean},
};

// Returns the text after `'key':` in the header dict, trimmed.
std::string dict_value(const std::string& header, const std::string& key,
                       const std::string& origin) {
  auto pos = header.find("'" + key + "'");
  SINTER_CHECK(pos != std::string::npos, io_error, "{}: .npy header has no '{}' entry", origin,
               key);
  pos = header.find(':', pos);
  SINTER_CHECK(pos != std::string::npos, io_error, "{}: malformed .npy header", origin);
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  return header.substr(pos);
}
}  // namespace

bool looks_like_npy(const std::string& bytes) {
  return bytes.size() >= 6 && bytes.compare(0, 6, kMagic, 6) == 0;
}

Tensor parse_npy(const std::string& bytes, const std::string& origin) {
  SINTER_CHECK(looks_like_npy(bytes) && bytes.size() >= 10, io_error,
               "{}: not a .npy file (bad magic)", origin);
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    SINTER_CHECK(bytes.size() >= 12, io_error, "{}: truncated .npy header", origin);
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    header_start = 12;
  } else {
    raise(ErrorCategory::io_error, "{}: unsupported .npy format version {}", origin, major);
  }
  SINTER_CHECK(header_start + header_len <= bytes.size(), io_error, "{}: truncated .npy header",
               origin);
  const std::string header = bytes.substr(header_start, header_len);

  std::string descr = dict_value(header, "descr", origin);
  SINTER_CHECK(descr.size() >= 4 && descr[0] == '\'', io_error, "{}: malformed 'descr' in header",
               origin);
  const char order = descr[1];
  SINTER_CHECK(order != '>', io_error, "{}: big-endian .npy data is not supported", origin);
  const std::string code = descr.substr(2, descr.find('\'', 1) - 2);
  ElementType type = ElementType::undefined;
  for (const auto& t : kTypes) {
    if (code == t.descr) type = t.type;
  }
  SINTER_CHECK(type != ElementType::undefined, io_error,
               "{}: .npy element type '{}' is not supported", origin, code);

  const std::string fortran = dict_value(header, "fortran_order", origin);
  SINTER_CHECK(fortran.rfind("False", 0) == 0, io_error,
               "{}: Fortran-ordered .npy arrays are not supported (save with C order)", origin);

  std::string shape_text = dict_value(header, "shape", origin);
  SINTER_CHECK(!shape_text.empty() && shape_text[0] == '(', io_error,
               "{}: malformed 'shape' in header", origin);
  shape_text = shape_text.substr(1, shape_text.find(')') - 1);
  Shape shape;
  std::stringstream ss(shape_text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    try {
      shape.push_back(std::stoll(item));
    } catch (const std::exception&) {
      raise(ErrorCategory::io_error, "{}: malformed dimension '{}' in .npy shape", origin, item);
    }
    SINTER_CHECK(shape.back() >= 0, io_error, "{}: negative dimension in .npy shape", origin);
  }

  Tensor t(type, shape);
  const std::size_t data_start = header_start + header_len;
  SINTER_CHECK(bytes.size() - data_start >= t.byte_size(), io_error,
               "{}: truncated .npy data: shape {} of {} needs {} bytes, file has {}", origin,
               to_string(shape), to_string(type), t.byte_size(), bytes.size() - data_start);
  if (t.byte_size()) std::memcpy(t.data(), bytes.data() + data_start, t.byte_size());
  return t;
}

std::string serialize_npy(const Tensor& input) {
  Tensor tensor = input;
  if (tensor.element_type() == ElementType::bf16) {
    Tensor f(ElementType::f32, tensor.shape());
    for (int64_t i = 0; i < f.element_count(); ++i) {
      f.data_as<float>()[i] = float(tensor.data_as<bf16>()[i]);
    }
    tensor = f;
  }
  const char* code = nullptr;
  for (const auto& t : kTypes) {
    if (t.type == tensor.element_type()) code = t.descr;
  }
  SINTER_CHECK(code, invalid_argument, "cannot write a {} tensor as .npy",
               to_string(tensor.element_type()));
  const char order =
      (tensor.element_type() == ElementType::boolean || tensor.element_type() == ElementType::i8 ||
       tensor.element_type() == ElementType::u8)
          ? '|'
          : '<';
  std::string shape = "(";
  for (std::size_t i = 0; i < tensor.shape().size(); ++i) {
    if (i) shape += ", ";
    shape += std::to_string(tensor.shape()[i]);
  }
  shape += tensor.rank() == 1 ? ",)" : ")";
  std::string header =
      fmt::format("{{'descr': '{}{}', 'fortran_order': False, 'shape': {}, }}", order, code, shape);
  // Pad so that the data starts at a multiple of 64 bytes, ending the header with '\n'.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(tensor.data()), tensor.byte_size());
  return out;
}

}  // namespace sinter
