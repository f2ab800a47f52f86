// oneDNN primitives for common f32 cases of ops that also have plain C++ kernels: the C++ kernel
// calls the fast path first and does the work itself when it returns false (other types,
// layouts oneDNN does not cover, no node cache to keep the primitive in).
#pragma once

#include <vector>

#include "devices/cpu/op_context.hpp"

namespace sinter::cpu {

// Softmax / LogSoftmax (opset >= 13 semantics: one axis).
bool softmax_fast_path(OpContext& ctx, bool log);
// Add, Sub, Mul, Div, Max, Min of two f32 tensors where one has the output's shape.
bool binary_fast_path(OpContext& ctx, const std::string& op);
// One f32 input to one output through oneDNN's eltwise primitive: `kind` is relu, sigmoid,
// tanh, swish (x·sigmoid(alpha·x)), gelu_erf or gelu_tanh. Tensors too small for a primitive
// to pay: sigmoid, tanh and swish by the vectorised C++ kernels (vector_math.hpp), the others
// left to the caller. Binary ops leave small tensors to the caller too.
bool unary_fast_path(OpContext& ctx, const std::string& kind, float alpha = 1.f);
// MaxPool (no indices asked for) and AveragePool without ceil_mode, 1-D to 3-D; in the layout
// its "layout" attribute names (onednn::activation), plain without one.
bool pool_fast_path(OpContext& ctx);
// True where pool_fast_path does `node` (MaxPool or AveragePool) for an f32 input of shape x:
// layout propagation keeps the convolutions' layout only through those.
bool onednn_pools(const ir::Node& node, const Shape& x);
// Transpose of an f32 tensor of rank 2 to 12 by a reorder (parallel, blocked for the caches).
bool transpose_fast_path(OpContext& ctx, const std::vector<int64_t>& perm);
// LayerNormalization over the last axis with scale (and bias), only output 0 asked for.
bool layer_norm_fast_path(OpContext& ctx);
// oneDNN's layer normalisation of the plain f32 tensor x of `shape` over its last axis into y,
// with `scale` and (when not null) `shift` of that axis' length; its primitive in the node's
// cache. False where oneDNN refuses the case or the node has no cache.
bool layer_norm_over_rows(OpContext& ctx, const Shape& shape, const float* x, float* y,
                          const float* scale, const float* shift, float epsilon);

}  // namespace sinter::cpu
