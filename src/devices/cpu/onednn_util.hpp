// What the kernels that call oneDNN share: the engine, plain layouts for a shape, and running
// one prepared primitive on plain f32 tensors.
#pragma once

#include <dnnl.hpp>

#include <string>
#include <unordered_map>

#include "devices/cpu/op_context.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu::onednn {

dnnl::engine& engine();

// Row-major layout of `shape` (any rank up to 12; a scalar is [1]).
dnnl::memory::desc plain(const Shape& shape, dnnl::memory::data_type type);
dnnl::memory::desc plain_f32(const Shape& shape);

// Layouts an activation tensor (rank 3 to 5, channels second in the logical shape) can be
// stored in between the CPU's fused convolutions: kChannelsLast (NWC, NHWC, NDHWC) or the
// channel-blocked nChw16c / nChw8c (channels in groups of 16 or 8, innermost). "" is plain.
inline constexpr const char* kChannelsLast = "channels_last";
inline constexpr const char* kBlocked16 = "blocked16";
inline constexpr const char* kBlocked8 = "blocked8";
// The memory description of `dims` in one of those layouts (plain for "" and for ranks outside
// 3..5).
dnnl::memory::desc activation(const dnnl::memory::dims& dims, const std::string& layout,
                              dnnl::memory::data_type type = dnnl::memory::data_type::f32);
// The layout oneDNN's convolutions compute in on this CPU, asked once by setting up a typical
// one (3x3, 64 channels, 56x56) and reading the layout it chose: kChannelsLast for the
// brgemm kernels of AVX-512 CPUs, kBlocked8/16 for the older JIT kernels, "" when neither.
const std::string& preferred_conv_layout();

// Whether oneDNN's int8 kernels on this CPU (within ONEDNN_MAX_CPU_ISA) multiply u8 by s8
// exactly: with VNNI (vpdpbusd) they accumulate in int32. Without it (AVX2, AVX-512 before
// Cascade Lake) they add pairs of products in int16 with saturation (vpmaddubsw), which is
// wrong for products of full-range uint8 inputs and int8 weights (255 * 127 * 2 > 32767).
bool exact_int8_products();

// `pd` itself, or a dnnl::error (dnnl_unimplemented) where oneDNN picked its reference
// implementation: callers with a C++ kernel of their own (softmax, eltwise, binary, layer norm
// fast paths) then use that instead of a kernel 10 to 1000 times slower than oneDNN's JIT ones.
template <typename PrimitiveDesc>
PrimitiveDesc jit_only(PrimitiveDesc pd) {
  if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0)
    throw dnnl::error(dnnl_unimplemented, "oneDNN has only its reference implementation here");
  return pd;
}

// The calling thread's stream (a CPU stream is only a handle for in-order execution; making one
// per primitive run allocated every time).
dnnl::stream& thread_stream();

// Memory the calling thread reuses across primitive runs, one buffer per purpose: a
// primitive's scratchpad and the staging copies of its input and output in the layouts it
// computes in (and `staging` for a second copy on the way). A node used to allocate (and fault in)
// these on every run. Buffers up to kMaxKeptScratchBytes stay with the thread; a larger request
// gets memory of its own, freed with the returned dnnl::memory. Valid until the thread's next
// request for the same purpose.
// `weights`: compressed weights widened for one run (ops/weight_packing.hpp).
enum class Scratch { scratchpad, source, destination, staging, weights };
inline constexpr std::size_t kMaxKeptScratchBytes = std::size_t{16} << 20;
dnnl::memory scratch_memory(const dnnl::memory::desc& md, Scratch purpose);
// The same, but a larger request is a tensor that `holder` keeps (the caller keeps holder as
// long as it uses the memory): during an inference the tensor arena plans it like any value, so
// no run touches fresh pages for it (IS-Net's 64 MB staging copies: a fifth of its time was page
// faults).
dnnl::memory scratch_memory(const dnnl::memory::desc& md, Scratch purpose, Tensor& holder);

// Runs `primitive` on a fresh stream with memories over the tensors' data, and waits.
void execute(const dnnl::primitive& primitive,
             const std::unordered_map<int, std::pair<dnnl::memory::desc, const void*>>& args);

// The post-ops a fused node's attributes list (post_ops, post_alpha, post_beta: sum, relu,
// leaky_relu, elu, sigmoid, tanh, swish, gelu_erf, gelu_tanh, hard_swish, hard_sigmoid, clip), in
// order; std::invalid_argument for lists that do not fit together or an unknown kind.
dnnl::post_ops post_ops_of(const ir::Node& node);

// The attributes of a fused node's primitive: its post-ops, and scratch memory supplied per run
// (DNNL_ARG_SCRATCHPAD) instead of held by every primitive for the model's lifetime, which with
// many primitives was as much again as the weights. The node's form throws as post_ops_of; the
// kernel's fails the node with an invalid_model error.
dnnl::primitive_attr fused_node_attr(const ir::Node& node);
dnnl::primitive_attr fused_node_attr(const OpContext& ctx);

}  // namespace sinter::cpu::onednn
