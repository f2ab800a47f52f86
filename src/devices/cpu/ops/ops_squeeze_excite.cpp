// SqueezeExcite (domain sinter.cpu, made by squeeze_excite_fusion.cpp): for x [N, C, spatial...]
//   p = mean of x over its spatial axes          [N, C]
//   h = squeeze_post_ops(p W1^T + b1)            [N, H]   (W1 [H, C, 1...])
//   s = excite_post_ops(h W2^T + b2)             [N, C]   (W2 [C, H, 1...])
//   y = x * s, per channel and sample
// x and y are plain NCHW, or channels-last where layout propagation kept that layout (attribute
// layout). The transposed weights are made once per node; y is written into x's memory when
// this node is x's last reader.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/column_totals.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "devices/cpu/squeeze_excite_fusion.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

// One activation of a post-op list, as oneDNN's eltwise post-ops define them (onednn_util).
struct Activation {
  enum class Kind {
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
    clip
  } kind;
  float alpha = 0.f, beta = 0.f;

  float operator()(float v) const {
    switch (kind) {
      case Kind::relu:
        return v > 0.f ? v : 0.f;
      case Kind::leaky_relu:
        return v > 0.f ? v : alpha * v;
      case Kind::elu:
        return v > 0.f ? v : alpha * std::expm1(v);
      case Kind::sigmoid:
        return 1.f / (1.f + std::exp(-v));
      case Kind::tanh:
        return std::tanh(v);
      case Kind::swish:
        return v / (1.f + std::exp(-alpha * v));
      case Kind::gelu_erf:
        return 0.5f * v * (1.f + std::erf(v * 0.70710678118654752f));
      case Kind::gelu_tanh:
        return 0.5f * v * (1.f + std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
      case Kind::hard_swish:
        return v * std::clamp(v / 6.f + 0.5f, 0.f, 1.f);
      case Kind::hard_sigmoid:
        return std::clamp(alpha * v + beta, 0.f, 1.f);
      case Kind::clip:
        return std::clamp(v, alpha, beta);
    }
    return v;
  }
};

std::vector<Activation> activations(const OpContext& ctx, const std::string& prefix) {
  using K = Activation::Kind;
  static const std::map<std::string, K> kinds_by_name = {{"relu", K::relu},
                                                         {"leaky_relu", K::leaky_relu},
                                                         {"elu", K::elu},
                                                         {"sigmoid", K::sigmoid},
                                                         {"tanh", K::tanh},
                                                         {"swish", K::swish},
                                                         {"gelu_erf", K::gelu_erf},
                                                         {"gelu_tanh", K::gelu_tanh},
                                                         {"hard_swish", K::hard_swish},
                                                         {"hard_sigmoid", K::hard_sigmoid},
                                                         {"clip", K::clip}};
  const ir::Attribute* kinds = ctx.node().find(prefix + "post_ops");
  if (!kinds) return {};
  const auto alpha = ctx.attr_floats(prefix + "post_alpha"),
             beta = ctx.attr_floats(prefix + "post_beta");
  ctx.check(alpha.size() == kinds->strings.size() && beta.size() == kinds->strings.size(),
            "{}post_ops, post_alpha and post_beta differ in length", prefix);
  std::vector<Activation> list;
  for (std::size_t k = 0; k < kinds->strings.size(); ++k) {
    auto it = kinds_by_name.find(kinds->strings[k]);
    ctx.check(it != kinds_by_name.end() && squeeze_excite_activation(kinds->strings[k]),
              "cannot apply post-op '{}'", kinds->strings[k]);
    list.push_back({it->second, alpha[k], beta[k]});
  }
  return list;
}

// W [out, in, 1...] as W^T [in][out], the layout accumulate_product reads.
struct Transposed {
  std::vector<float> w1t, w2t;
};

std::vector<float> transposed(const Tensor& w) {
  const int64_t out = w.shape()[0], in = w.shape()[1];
  std::vector<float> t(static_cast<std::size_t>(out * in));
  const float* src = w.data_as<float>();
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) t[i * out + o] = src[o * in + i];
  return t;
}

// rows [N][width] = bias + rows_in [N][k] x wt [k][width], then the activations.
void dense(const std::vector<float>& in, int64_t n, int64_t k, const std::vector<float>& wt,
           const Tensor* bias, int64_t width, const std::vector<Activation>& acts,
           std::vector<float>& out) {
  out.assign(static_cast<std::size_t>(n * width), 0.f);
  if (bias)
    for (int64_t r = 0; r < n; ++r)
      std::memcpy(out.data() + r * width, bias->data(), static_cast<std::size_t>(width) * 4);
  vec::accumulate_product(n, width, k, in.data(), k, wt.data(), width, out.data(), width);
  for (const Activation& a : acts)
    for (float& v : out) v = a(v);
}

void op_squeeze_excite(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w1 = ctx.input(1);
  const Tensor* b1 = ctx.optional_input(2);
  const Tensor& w2 = ctx.input(3);
  const Tensor* b2 = ctx.optional_input(4);
  ctx.check(x.element_type() == ElementType::f32 && x.rank() >= 3,
            "expects an f32 tensor [N, C, spatial...], got {} {}", to_string(x.element_type()),
            to_string(x.shape()));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t spatial = N * C > 0 ? x.element_count() / (N * C) : 0;
  const int64_t H = w1.rank() >= 2 ? w1.shape()[0] : 0;
  ctx.check(w1.element_type() == ElementType::f32 && w2.element_type() == ElementType::f32 &&
                w1.rank() >= 2 && w2.rank() >= 2 && w1.shape()[1] == C && w2.shape()[0] == C &&
                w2.shape()[1] == H && w1.element_count() == H * C && w2.element_count() == C * H,
            "weights {} and {} are not [H, {}, 1...] and [{}, H, 1...]", to_string(w1.shape()),
            to_string(w2.shape()), C, C);
  ctx.check((!b1 || (b1->element_type() == ElementType::f32 && b1->element_count() == H)) &&
                (!b2 || (b2->element_type() == ElementType::f32 && b2->element_count() == C)),
            "biases must be f32 with {} and {} elements", H, C);
  const std::string layout = ctx.attr_s("layout", "");
  ctx.check(layout.empty() || layout == onednn::kChannelsLast,
            "reads plain or channels-last input, not '{}'", layout);
  const bool channels_last = !layout.empty();
  const Tensor* reusable = ctx.reusable_input(0);
  Tensor out = reusable ? *reusable : Tensor::uninitialized(ElementType::f32, x.shape());
  if (out.element_count() == 0) {
    ctx.set_output(0, out);
    return;
  }
  auto make = [&] {
    return std::make_shared<const Transposed>(Transposed{transposed(w1), transposed(w2)});
  };
  const bool constant_weights = ctx.input_is_constant(1) && ctx.input_is_constant(3);
  const std::shared_ptr<const Transposed> weights =
      ctx.cache() && constant_weights ? ctx.cache()->get_or_make<Transposed>("w", make) : make();
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  // Squeeze: channel means per sample.
  std::vector<float> means(static_cast<std::size_t>(N * C));
  if (channels_last) {
    channel_means(src, N, spatial, C, means.data());
  } else {
    const float inv = spatial > 0 ? 1.f / static_cast<float>(spatial) : 0.f;
    parallel_for(N * C, N * C * spatial > 16384, [&](int64_t plane) {
      means[plane] = static_cast<float>(vec::sum(src + plane * spatial, spatial)) * inv;
    });
  }
  // Excite: two small products (a few thousand multiply-adds per sample).
  std::vector<float> hidden, scale;
  dense(means, N, C, weights->w1t, b1, H, activations(ctx, "squeeze_"), hidden);
  dense(hidden, N, H, weights->w2t, b2, C, activations(ctx, "excite_"), scale);
  // Scale x per channel (and sample).
  if (channels_last) {
    for_each_row_run(N, spatial, C, [&](int64_t first, int64_t rows, int64_t n) {
      vec::multiply_rows(src + first, rows, C, scale.data() + n * C, dst + first);
    });
  } else {
    parallel_for(N * C, N * C * spatial > 16384, [&](int64_t plane) {
      vec::scale_shift(src + plane * spatial, scale[plane], 0.f, dst + plane * spatial, spatial);
    });
  }
  ctx.set_output(0, out);
}

}  // namespace

void register_squeeze_excite_ops(KernelRegistry& r) {
  r.add("SqueezeExcite", op_squeeze_excite, kCpuDomain);
}

}  // namespace sinter::cpu
