// Tensors and values: the data that flows into and out of a model.
//
// A Tensor is an element type, a shape and a block of memory. It either owns its memory (shared,
// so copies are cheap and alias) or views memory the caller keeps alive:
//
//   sinter::Tensor x(sinter::ElementType::f32, {1, 3, 224, 224});   // owning, zero-filled
//   float* p = x.data_as<float>();
//   sinter::Tensor v = sinter::Tensor::view(sinter::ElementType::f32, {4}, my_floats);
//
// A Value is what an ONNX graph passes along an edge: a tensor, a sequence of tensors, or an
// empty optional.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sinter {

// Numbering follows ONNX's TensorProto.DataType so files convert without a table.
enum class ElementType : int {
  undefined = 0,
  f32 = 1,
  u8 = 2,
  i8 = 3,
  u16 = 4,
  i16 = 5,
  i32 = 6,
  i64 = 7,
  string = 8,
  boolean = 9,
  f16 = 10,
  f64 = 11,
  u32 = 12,
  u64 = 13,
  bf16 = 16,
};

// "f32", "i64", "bool", ...
const char* to_string(ElementType type);
// Bytes per element; 0 for undefined. Strings are stored as std::string objects.
std::size_t element_size(ElementType type);

using Shape = std::vector<int64_t>;
// "[1,3,224,224]"
std::string to_string(const Shape& shape);
// Product of the dimensions (1 for a scalar).
int64_t element_count(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  // Owning tensor, zero-initialised (strings: empty).
  Tensor(ElementType type, Shape shape);
  // Owning tensor whose contents are left unspecified, for results about to be written whole
  // (saves clearing memory that is overwritten anyway). Strings are still empty strings.
  static Tensor uninitialized(ElementType type, Shape shape);
  // A tensor over memory the caller owns and keeps alive as long as the tensor is used.
  static Tensor view(ElementType type, Shape shape, void* data);
  // A tensor over memory that `owner` keeps alive (e.g. a mapped file); no copy is made.
  static Tensor adopt(ElementType type, Shape shape, std::shared_ptr<void> owner, void* data);

  bool empty() const { return type_ == ElementType::undefined; }
  ElementType element_type() const { return type_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t element_count() const { return sinter::element_count(shape_); }
  std::size_t byte_size() const;

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T>
  T* data_as() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data_);
  }

  // True when this tensor owns its memory and no other tensor shares it (not a view, not an
  // adopted buffer, no reshaped alias): a kernel may then write its result into it.
  bool owns_memory_alone() const;

  // Same memory, other shape (element counts must agree).
  Tensor reshaped(Shape shape) const;
  // A deep copy that owns its memory.
  Tensor clone() const;

 private:
  ElementType type_ = ElementType::undefined;
  Shape shape_;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
  bool owned_ = false;  // storage_ was allocated for this tensor (not adopted)
};

class Value {
 public:
  enum class Kind { none, tensor, sequence };

  Value() = default;                                                         // an empty optional
  Value(Tensor tensor) : kind_(Kind::tensor), tensor_(std::move(tensor)) {}  // NOLINT: implicit
  static Value sequence(std::vector<Tensor> items) {
    Value v;
    v.kind_ = Kind::sequence;
    v.sequence_ = std::move(items);
    return v;
  }

  Kind kind() const { return kind_; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_tensor() const { return kind_ == Kind::tensor; }
  bool is_sequence() const { return kind_ == Kind::sequence; }
  // Throws sinter::Error (invalid_argument) when the value is of another kind.
  const Tensor& tensor() const;
  const std::vector<Tensor>& sequence_items() const;

 private:
  Kind kind_ = Kind::none;
  Tensor tensor_;
  std::vector<Tensor> sequence_;
};

// Reads a tensor from a .npy file or an ONNX TensorProto (.pb) file, chosen by content.
Tensor load_tensor(const std::string& path);
// Writes a tensor as .npy (format 1.0). Writes to a temporary file and renames it into place.
void save_npy(const Tensor& tensor, const std::string& path);

}  // namespace sinter
