#include "devices/cpu/ops/post_op_rows.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "devices/cpu/ops/vector_math.hpp"

namespace sinter::cpu {

std::vector<PostOpStep> post_op_steps(const ir::Node& n) {
  using K = PostOpStep::Kind;
  static const std::vector<std::pair<std::string, K>> names = {{"sum", K::sum},
                                                               {"relu", K::relu},
                                                               {"leaky_relu", K::leaky_relu},
                                                               {"elu", K::elu},
                                                               {"sigmoid", K::sigmoid},
                                                               {"tanh", K::tanh},
                                                               {"swish", K::swish},
                                                               {"gelu_erf", K::gelu_erf},
                                                               {"gelu_tanh", K::gelu_tanh},
                                                               {"hard_swish", K::hard_swish},
                                                               {"hard_sigmoid", K::hard_sigmoid},
                                                               {"clip", K::clip},
                                                               {"linear", K::linear}};
  const auto kinds = n.find("post_ops") ? n.find("post_ops")->strings : std::vector<std::string>{};
  const auto alpha = n.find("post_alpha") ? n.find("post_alpha")->floats : std::vector<float>{};
  const auto beta = n.find("post_beta") ? n.find("post_beta")->floats : std::vector<float>{};
  if (alpha.size() != kinds.size() || beta.size() != kinds.size())
    throw std::invalid_argument("post_ops, post_alpha and post_beta differ in length");
  std::vector<PostOpStep> steps;
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    auto it = std::find_if(names.begin(), names.end(),
                           [&](const auto& entry) { return entry.first == kinds[k]; });
    if (it == names.end()) throw std::invalid_argument("unknown post-op '" + kinds[k] + "'");
    steps.push_back({it->second, alpha[k], beta[k]});
  }
  return steps;
}

void apply_post_ops(const std::vector<PostOpStep>& steps, float* v, int64_t n,
                    const float* residual) {
  using K = PostOpStep::Kind;
  for (const PostOpStep& s : steps) {
    const float a = s.alpha, b = s.beta;
    switch (s.kind) {
      case K::sum:
        for (int64_t i = 0; i < n; ++i) v[i] += residual[i];
        break;
      case K::relu:
        vec::relu(v, n);
        break;
      case K::leaky_relu:
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] > 0 ? v[i] : a * v[i];
        break;
      case K::elu:
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] > 0 ? v[i] : a * std::expm1(v[i]);
        break;
      case K::sigmoid:
        vec::sigmoid(v, n);
        break;
      case K::tanh:
        vec::tanh(v, n);
        break;
      case K::swish:
        vec::swish(v, n, a);
        break;
      case K::gelu_erf:
        for (int64_t i = 0; i < n; ++i)
          v[i] = 0.5f * v[i] * (1.f + std::erf(v[i] * 0.70710678118654752f));
        break;
      case K::gelu_tanh:
        for (int64_t i = 0; i < n; ++i) {
          const float x = v[i];
          v[i] = 0.5f * x * (1.f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
        }
        break;
      case K::hard_swish:  // x * clip(x / 6 + 1/2, 0, 1), as ONNX defines it
        for (int64_t i = 0; i < n; ++i)
          v[i] = v[i] * std::min(std::max(v[i] / 6.f + 0.5f, 0.f), 1.f);
        break;
      case K::hard_sigmoid:
        for (int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(a * v[i] + b, 0.f), 1.f);
        break;
      case K::clip:
        for (int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(v[i], a), b);
        break;
      case K::linear:
        for (int64_t i = 0; i < n; ++i) v[i] = a * v[i] + b;
        break;
    }
  }
}

}  // namespace sinter::cpu
