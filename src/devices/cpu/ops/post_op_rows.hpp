// A fused node's post-ops (attributes post_ops / post_alpha / post_beta, as conv_fusion.cpp
// writes them) applied by C++ to rows of floats, for kernels whose oneDNN primitive cannot carry
// them: the int8 convolution of DynamicQuantConv runs fastest with no post-ops at all (oneDNN
// 2.6's brgemm kernels take none of the binary ones its scaling would need), so its epilogue
// scales, adds the bias and then these. Same formulas as oneDNN's post-ops.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.hpp"

namespace sinter::cpu {

struct PostOpStep {
  enum class Kind {
    sum,
    relu,
    leaky_relu,
    elu,
    sigmoid,
    tanh,
    swish,
    gelu_erf,
    gelu_tanh,
    hard_swish,
    hard_sigmoid,
    clip,
    linear
  };
  Kind kind;
  float alpha = 0, beta = 0;
};

// The node's post-ops in order; std::invalid_argument for an unknown kind or lists of different
// lengths.
std::vector<PostOpStep> post_op_steps(const ir::Node& node);

// v[0..n) through the steps in order; `residual` (n values, or nullptr when no step is a sum)
// is added at the sum step.
void apply_post_ops(const std::vector<PostOpStep>& steps, float* v, int64_t n,
                    const float* residual);

}  // namespace sinter::cpu
