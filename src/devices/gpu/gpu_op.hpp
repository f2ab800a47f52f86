// What a GPU operator implementation sees: its node, device tensors for its inputs, the planned
// shapes (static shape inference at the concrete input shapes) and tracked small values of every
// input (Slice starts, Resize scales, ...), and outputs to fill.
//
//   void relu(GpuOpContext& ctx) {
//     GTensor& y = ctx.allocate_output(0);
//     ctx.cl.launch_flat("unary_f32", y.count(), 0, 0.f, 0.f, ctx.input(0).buf, y.buf, y.count());
//   }
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "devices/gpu/cl_runtime.hpp"
#include "devices/gpu/kernel_args.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::gpu {

// A tensor in device memory. Reshape-like ops share the buffer under another shape. `type` is
// the stored type, which for floats is the runtime's float storage whatever the graph's float
// type (ClRuntime::stored_as): f32, or f16 under `--precision f16`.
struct GTensor {
  ElementType type = ElementType::undefined;
  Shape shape;
  DeviceBuffer buf;

  int64_t count() const { return element_count(shape); }
  // f32 values, stored as f32 or (with `--precision f16`) f16.
  bool is_float() const { return type == ElementType::f32 || type == ElementType::f16; }
  std::size_t bytes() const { return static_cast<std::size_t>(count()) * element_size(type); }
};

class GpuOpContext {
 public:
  GpuOpContext(ClRuntime& runtime, const ir::Node& n, int64_t opset_version,
               std::vector<const GTensor*> in, const ir::ShapeInference& plan)
      : cl(runtime), node(n), opset(opset_version), inputs_(std::move(in)), plan_(plan) {
    outputs.resize(n.outputs.size());
  }

  ClRuntime& cl;
  const ir::Node& node;
  const int64_t opset;

  bool has_input(std::size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const GTensor& input(std::size_t i) const {
    if (!has_input(i)) fail("required input #{} is missing", i);
    return *inputs_[i];
  }
  std::size_t input_count() const { return inputs_.size(); }
  // What shape inference knows of input i / output k at these input shapes.
  const ir::ValueInfo& planned_input(std::size_t i) const {
    return plan_.values.at(node.inputs[i]);
  }
  const ir::ValueInfo& planned_output(std::size_t k) const {
    return plan_.values.at(node.outputs[k]);
  }
  // The tracked integer contents of input i (constants and shape arithmetic); fails if unknown.
  std::vector<int64_t> input_ints(std::size_t i) const;
  std::vector<double> input_reals(std::size_t i) const;

  // A fresh device tensor of output k's planned type and shape.
  GTensor& allocate_output(std::size_t k);
  // Output k shares `of`'s memory under its planned shape (Reshape, Identity, ...).
  void alias_output(std::size_t k, const GTensor& of);

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw Error(ErrorCategory::unsupported_op,
                node.label() + " on the GPU: " + fmt::format(format, std::forward<Args>(args)...));
  }

  // Raises invalid_argument naming the node when the input shapes do not fit together (kernels
  // do not check bounds).
  template <typename... Args>
  void check(bool condition, fmt::format_string<Args...> format, Args&&... args) const {
    if (!condition)
      throw Error(ErrorCategory::invalid_argument,
                  node.label() + ": " + fmt::format(format, std::forward<Args>(args)...));
  }

  std::vector<GTensor> outputs;

 private:
  std::vector<const GTensor*> inputs_;
  const ir::ShapeInference& plan_;
};

using GpuKernel = std::function<void(GpuOpContext&)>;

// Why a node with these attributes and planned types cannot run, or "" when it can.
using GpuCheck = std::function<std::string(const ir::Node&, const ir::ShapeInference&)>;

struct GpuOp {
  GpuOp() = default;
  GpuOp(GpuKernel r, std::string impl, std::set<ElementType> types, GpuCheck c = {})
      : run(std::move(r)),
        implementation(std::move(impl)),
        input_types(std::move(types)),
        check(std::move(c)) {}

  GpuKernel run;
  std::string implementation;         // for placement reports, e.g. "OpenCL matmul_f32"
  std::set<ElementType> input_types;  // accepted types of input 0; empty: any
  GpuCheck check;                     // attribute-level limits, reported by query()
  GpuCheck describe;                  // a node-specific implementation name, when it varies
};

// Common checks.
std::string only_first_output(const ir::Node& node, const ir::ShapeInference&);
std::string window_rank_at_most_3d(const ir::Node& node, const ir::ShapeInference& shapes);
std::string all_checks(const std::vector<GpuCheck>& checks, const ir::Node& node,
                       const ir::ShapeInference& shapes);

using GpuOpTable = std::map<std::string, GpuOp>;

// Types the device keeps in memory; data movement works for all of them.
// f16 graph values are computed like f32 ones (in the float storage type, f32 arithmetic).
inline const std::set<ElementType> kFloatOnly = {ElementType::f32, ElementType::f16};
inline const std::set<ElementType> kAnyStored = {ElementType::f32,     ElementType::f16,
                                                 ElementType::i64,     ElementType::i32,
                                                 ElementType::boolean, ElementType::u8};

void add_elementwise_ops(GpuOpTable& table);
void add_data_ops(GpuOpTable& table);
void add_nn_ops(GpuOpTable& table);
void add_norm_ops(GpuOpTable& table);
void add_einsum_op(GpuOpTable& table);
const GpuOpTable& gpu_ops();

// Shared building blocks of the op files.
// y (already allocated with the permuted shape) = x with its dims reordered by `perm`.
void permute_into(GpuOpContext& ctx, const GTensor& x, const std::vector<int64_t>& perm,
                  const GTensor& y);
// y[b] = a[b] · c[b] for contiguous a [batch, M, K] and c [batch, K, N]; y is [batch, M, N].
void batched_matmul(GpuOpContext& ctx, const GTensor& a, const GTensor& c, const GTensor& y,
                    int64_t batch, int64_t M, int64_t K, int64_t N);

// Host tensors to and from device memory, converting floats (f32, f16) to the runtime's float
// storage and back to `type`, the graph's type of the value.
GTensor upload_tensor(ClRuntime& cl, const Tensor& t);
Tensor download_tensor(ClRuntime& cl, const GTensor& g, ElementType type);

// "copy_strided_4" for element size 4, ...: the size-generic data kernels.
std::string sized_kernel(const char* base, ElementType type);

}  // namespace sinter::gpu
