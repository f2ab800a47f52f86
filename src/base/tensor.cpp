// Implementation of the public Tensor and Value types (include/sinter/tensor.hpp).
#include <cstring>
#include <string>

#include "base/errors.hpp"
#include "base/large_blocks.hpp"
#include "base/tensor_arena.hpp"
#include "sinter/tensor.hpp"

namespace sinter {

const char* to_string(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::invalid_model:
      return "invalid_model";
    case ErrorCategory::unsupported_op:
      return "unsupported_op";
    case ErrorCategory::device_not_found:
      return "device_not_found";
    case ErrorCategory::out_of_memory:
      return "out_of_memory";
    case ErrorCategory::invalid_argument:
      return "invalid_argument";
    case ErrorCategory::cache_error:
      return "cache_error";
    case ErrorCategory::io_error:
      return "io_error";
    case ErrorCategory::internal:
      return "internal";
    case ErrorCategory::device_error:
      return "device_error";
  }
  return "unknown";
}

const char* to_string(ElementType type) {
  switch (type) {
    case ElementType::undefined:
      return "undefined";
    case ElementType::f32:
      return "f32";
    case ElementType::u8:
      return "u8";
    case ElementType::i8:
      return "i8";
    case ElementType::u16:
      return "u16";
    case ElementType::i16:
      return "i16";
    case ElementType::i32:
      return "i32";
    case ElementType::i64:
      return "i64";
    case ElementType::string:
      return "string";
    case ElementType::boolean:
      return "bool";
    case ElementType::f16:
      return "f16";
    case ElementType::f64:
      return "f64";
    case ElementType::u32:
      return "u32";
    case ElementType::u64:
      return "u64";
    case ElementType::bf16:
      return "bf16";
  }
  return "unknown";
}

std::size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::undefined:
      return 0;
    case ElementType::u8:
    case ElementType::i8:
    case ElementType::boolean:
      return 1;
    case ElementType::u16:
    case ElementType::i16:
    case ElementType::f16:
    case ElementType::bf16:
      return 2;
    case ElementType::f32:
    case ElementType::i32:
    case ElementType::u32:
      return 4;
    case ElementType::f64:
    case ElementType::i64:
    case ElementType::u64:
      return 8;
    case ElementType::string:
      return sizeof(std::string);
  }
  return 0;
}

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t element_count(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {
// Allocation of tensor memory: 64-byte aligned (what vector kernels and oneDNN like best).
std::shared_ptr<void> allocate(ElementType type, int64_t count, bool zeroed = true) {
  if (type == ElementType::string) {
    return std::shared_ptr<void>(new std::string[std::max<int64_t>(count, 1)],
                                 [](void* p) { delete[] static_cast<std::string*>(p); });
  }
  const std::size_t bytes = static_cast<std::size_t>(count) * element_size(type);
  const std::size_t rounded = ((bytes + 63) / 64) * 64 + 64;
  if (TensorArena* arena = current_tensor_arena()) {
    if (std::shared_ptr<void> planned = arena->allocate(rounded)) {
      if (zeroed) std::memset(planned.get(), 0, rounded);
      return planned;
    }
  }
  void* p = allocate_block(rounded);
  if (!p) {
    raise(ErrorCategory::out_of_memory, "cannot allocate {} bytes for a {} tensor", bytes,
          to_string(type));
  }
  if (zeroed) std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

// What every owning tensor needs before its memory is allocated.
void check_owning(ElementType type, const Shape& shape) {
  for (int64_t d : shape) {
    SINTER_CHECK(d >= 0, invalid_argument, "tensor shape {} has a negative dimension",
                 sinter::to_string(shape));
  }
  SINTER_CHECK(type != ElementType::undefined, invalid_argument, "a tensor needs an element type");
}
}  // namespace

Tensor::Tensor(ElementType type, Shape shape) : type_(type), shape_(std::move(shape)) {
  check_owning(type_, shape_);
  storage_ = allocate(type, element_count());
  data_ = storage_.get();
  owned_ = true;
}

bool Tensor::owns_memory_alone() const {
  // adopt() keeps its owner in storage_ too, but data_ then points into someone else's buffer
  // (a mapped file): only memory allocated here counts.
  return storage_ && storage_.use_count() == 1 && owned_;
}

Tensor Tensor::uninitialized(ElementType type, Shape shape) {
  if (type == ElementType::string) return Tensor(type, std::move(shape));
  check_owning(type, shape);
  Tensor t;
  t.type_ = type;
  t.shape_ = std::move(shape);
  t.storage_ = allocate(type, t.element_count(), false);
  t.data_ = t.storage_.get();
  t.owned_ = true;
  return t;
}

Tensor Tensor::view(ElementType type, Shape shape, void* data) {
  Tensor t;
  t.type_ = type;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::adopt(ElementType type, Shape shape, std::shared_ptr<void> owner, void* data) {
  SINTER_CHECK(type != ElementType::string, invalid_argument,
               "string tensors cannot adopt external memory");
  Tensor t = view(type, std::move(shape), data);
  t.storage_ = std::move(owner);
  return t;
}

std::size_t Tensor::byte_size() const {
  return static_cast<std::size_t>(element_count()) * element_size(type_);
}

Tensor Tensor::reshaped(Shape shape) const {
  SINTER_CHECK(sinter::element_count(shape) == element_count(), invalid_argument,
               "cannot reshape a tensor of shape {} to {}", sinter::to_string(shape_),
               sinter::to_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (empty()) return Tensor();
  Tensor t(type_, shape_);
  if (type_ == ElementType::string) {
    const auto* src = data_as<std::string>();
    auto* dst = t.data_as<std::string>();
    for (int64_t i = 0; i < element_count(); ++i) dst[i] = src[i];
  } else if (byte_size()) {
    std::memcpy(t.data_, data_, byte_size());
  }
  return t;
}

const Tensor& Value::tensor() const {
  SINTER_CHECK(kind_ == Kind::tensor, invalid_argument, "value is a {}, not a tensor",
               kind_ == Kind::none ? "empty optional" : "sequence");
  return tensor_;
}

const std::vector<Tensor>& Value::sequence_items() const {
  SINTER_CHECK(kind_ == Kind::sequence, invalid_argument, "value is a {}, not a sequence",
               kind_ == Kind::none ? "empty optional" : "tensor");
  return sequence_;
}

}  // namespace sinter
