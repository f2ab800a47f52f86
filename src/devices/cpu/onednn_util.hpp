// What the kernels that call oneDNN share: the engine, plain layouts for a shape, and running
// one prepared primitive on plain f32 tensors.
#pragma once

#include <dnnl.hpp>

#include <unordered_map>

#include "devices/cpu/op_context.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu::onednn {

dnnl::engine& engine();

// Row-major layout of `shape` (any rank up to 12; a scalar is [1]).
dnnl::memory::desc plain_f32(const Shape& shape);

// Runs `primitive` on a fresh stream with memories over the tensors' data, and waits.
void execute(const dnnl::primitive& primitive,
             const std::unordered_map<int, std::pair<dnnl::memory::desc, const void*>>& args);

// The post-ops a fused node's attributes list (post_ops, post_alpha, post_beta: sum, relu,
// leaky_relu, elu, sigmoid, tanh, swish, gelu_erf, hard_swish, hard_sigmoid, clip), in order.
dnnl::post_ops post_ops_of(const OpContext& ctx);

// The attributes of a fused node's primitive: its post-ops, and scratch memory supplied per run
// (DNNL_ARG_SCRATCHPAD) instead of held by every primitive for the model's lifetime, which with
// many primitives was as much again as the weights.
dnnl::primitive_attr fused_node_attr(const OpContext& ctx);

}  // namespace sinter::cpu::onednn
