#include "devices/cpu/ops/onednn_fast_paths.hpp"

#include <algorithm>
#include <optional>

#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/conv_geometry.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "devices/cpu/tensor_util.hpp"
#include "ir/window_geometry.hpp"

namespace sinter::cpu {

namespace {

using onednn::engine;
using onednn::plain_f32;

bool all_f32(const OpContext& ctx, std::size_t inputs) {
  for (std::size_t i = 0; i < inputs; ++i)
    if (!ctx.has_input(i) || !ctx.input_value(i).is_tensor() ||
        ctx.input(i).element_type() != ElementType::f32)
      return false;
  return true;
}

// A primitive for one shape key, from the node's cache.
template <typename P>
std::shared_ptr<const P> cached(OpContext& ctx, const std::string& key,
                                const std::function<std::shared_ptr<const P>()>& make) {
  try {
    return ctx.cache()->get_or_make<P>(key, make);
  } catch (const dnnl::error&) {
    return nullptr;  // oneDNN refuses this case: the C++ kernel does it
  }
}

// Below this many elements an elementwise op costs less than running a oneDNN primitive on it
// (its memory objects, the cache key, a parallel region): small tensors take the C++ kernels,
// the vectorised ones where there are (Silero VAD's and MobileNet's per-channel tensors).
constexpr int64_t kSmallElementwise = 4096;

// A primitive whose source and destination have the input's shape and plain layout.
struct SameShapePrimitive {
  dnnl::primitive primitive;
  dnnl::memory::desc md;
};

// Runs `p` on input 0 into a new output 0 of the same shape.
void run_same_shape(OpContext& ctx, const SameShapePrimitive& p) {
  const Tensor& x = ctx.input(0);
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  onednn::execute(p.primitive,
                  {{DNNL_ARG_SRC, {p.md, x.data()}}, {DNNL_ARG_DST, {p.md, out.data()}}});
  ctx.set_output(0, out);
}

}  // namespace

bool softmax_fast_path(OpContext& ctx, bool log) {
  if (!ctx.cache() || ctx.opset() < 13 || !all_f32(ctx, 1)) return false;
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0 || x.element_count() == 0) return false;
  int64_t axis = ctx.attr_i("axis", -1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) return false;  // the C++ kernel reports it
  auto p = cached<SameShapePrimitive>(ctx, to_string(x.shape()), [&] {
    const dnnl::memory::desc md = plain_f32(x.shape());
    dnnl::primitive prim;
    if (log) {
      dnnl::logsoftmax_forward::desc d(dnnl::prop_kind::forward_inference, md,
                                       static_cast<int>(axis));
      prim = dnnl::logsoftmax_forward(
          onednn::jit_only(dnnl::logsoftmax_forward::primitive_desc(d, engine())));
    } else {
      dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, md, static_cast<int>(axis));
      prim = dnnl::softmax_forward(
          onednn::jit_only(dnnl::softmax_forward::primitive_desc(d, engine())));
    }
    return std::make_shared<const SameShapePrimitive>(SameShapePrimitive{prim, md});
  });
  if (!p) return false;
  run_same_shape(ctx, *p);
  return true;
}

bool unary_fast_path(OpContext& ctx, const std::string& kind, float swish_alpha) {
  if (!all_f32(ctx, 1)) return false;
  const Tensor& x = ctx.input(0);
  if (x.element_count() == 0) return false;
  if (x.element_count() < kSmallElementwise &&
      (kind == "sigmoid" || kind == "tanh" || kind == "swish")) {
    Tensor out = x.clone();
    float* v = out.data_as<float>();
    if (kind == "sigmoid") vec::sigmoid(v, out.element_count());
    if (kind == "tanh") vec::tanh(v, out.element_count());
    if (kind == "swish") vec::swish(v, out.element_count(), swish_alpha);
    ctx.set_output(0, out);
    return true;
  }
  if (!ctx.cache() || x.element_count() < kSmallElementwise) return false;
  dnnl::algorithm alg;
  float alpha = 0.f;
  if (kind == "relu") {
    alg = dnnl::algorithm::eltwise_relu;
  } else if (kind == "sigmoid") {
    alg = dnnl::algorithm::eltwise_logistic;
  } else if (kind == "tanh") {
    alg = dnnl::algorithm::eltwise_tanh;
  } else if (kind == "swish") {
    alg = dnnl::algorithm::eltwise_swish;
    alpha = swish_alpha;
  } else if (kind == "gelu_erf") {
    alg = dnnl::algorithm::eltwise_gelu_erf;
  } else if (kind == "gelu_tanh") {
    alg = dnnl::algorithm::eltwise_gelu_tanh;
  } else {
    return false;
  }
  // Elementwise: the layout does not matter, so every shape is one flat vector.
  const Shape flat = {x.element_count()};
  auto p = cached<SameShapePrimitive>(ctx, to_string(flat), [&] {
    const dnnl::memory::desc md = plain_f32(flat);
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg, md, alpha, 0.f);
    return std::make_shared<const SameShapePrimitive>(SameShapePrimitive{
        dnnl::eltwise_forward(onednn::jit_only(dnnl::eltwise_forward::primitive_desc(d, engine()))),
        md});
  });
  if (!p) return false;
  run_same_shape(ctx, *p);
  return true;
}

bool binary_fast_path(OpContext& ctx, const std::string& op) {
  if (!ctx.cache() || ctx.input_count() != 2 || !all_f32(ctx, 2)) return false;
  const Tensor* a = &ctx.input(0);
  const Tensor* b = &ctx.input(1);
  if (std::max(a->element_count(), b->element_count()) < kSmallElementwise) return false;
  if (a->element_count() == 0 || b->element_count() == 0 || a->rank() > 12 || b->rank() > 12)
    return false;
  const bool commutative = op == "Add" || op == "Mul" || op == "Max" || op == "Min";
  // oneDNN broadcasts its second source only: the first must have the output's shape.
  Shape out_shape = a->rank() >= b->rank() ? a->shape() : b->shape();
  const std::size_t rank = out_shape.size();
  auto padded = [rank](const Shape& s) {
    Shape p(rank - s.size(), 1);
    p.insert(p.end(), s.begin(), s.end());
    return p;
  };
  Shape pa = padded(a->shape()), pb = padded(b->shape());
  for (std::size_t i = 0; i < rank; ++i) {
    if (pa[i] != pb[i] && pa[i] != 1 && pb[i] != 1) return false;  // the C++ kernel reports it
    out_shape[i] = std::max(pa[i], pb[i]);
  }
  bool swapped = false;
  if (pa != out_shape) {
    if (!commutative || pb != out_shape) return false;
    std::swap(a, b);
    std::swap(pa, pb);
    swapped = true;
  }
  dnnl::algorithm alg;
  if (op == "Add")
    alg = dnnl::algorithm::binary_add;
  else if (op == "Sub")
    alg = dnnl::algorithm::binary_sub;
  else if (op == "Mul")
    alg = dnnl::algorithm::binary_mul;
  else if (op == "Div")
    alg = dnnl::algorithm::binary_div;
  else if (op == "Max")
    alg = dnnl::algorithm::binary_max;
  else if (op == "Min")
    alg = dnnl::algorithm::binary_min;
  else
    return false;
  struct Prepared {
    dnnl::primitive primitive;
    dnnl::memory::desc a, b;
  };
  const std::string key = to_string(pa) + to_string(pb) + (swapped ? "s" : "");
  auto p = cached<Prepared>(ctx, key, [&] {
    const dnnl::memory::desc ma = plain_f32(pa), mb = plain_f32(pb);
    dnnl::binary::desc d(alg, ma, mb, ma);
    return std::make_shared<const Prepared>(Prepared{
        dnnl::binary(onednn::jit_only(dnnl::binary::primitive_desc(d, engine()))), ma, mb});
  });
  if (!p) return false;
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  onednn::execute(p->primitive, {{DNNL_ARG_SRC_0, {p->a, a->data()}},
                                 {DNNL_ARG_SRC_1, {p->b, b->data()}},
                                 {DNNL_ARG_DST, {p->a, out.data()}}});
  ctx.set_output(0, out);
  return true;
}

namespace {

// oneDNN's view of a pooling node over input shape x: nullopt where oneDNN cannot do it
// (AveragePool with ceil_mode, whose ONNX divisor differs; windows that need negative padding).
struct PoolSetup {
  dnnl::algorithm algorithm;
  dnnl::memory::dims strides, kernel, dilations, pad_l, pad_r;
  Shape output_shape;
};

std::optional<PoolSetup> onednn_pool_setup(const ir::Node& node, const Shape& x) {
  const bool max = node.op_type == "MaxPool";
  if (x.size() < 3 || x.size() > 5 || element_count(x) == 0) return std::nullopt;
  const ir::Attribute* ceil = node.find("ceil_mode");
  if (!max && ceil && ceil->i != 0) return std::nullopt;
  const ir::WindowGeometry g = ir::pool_window(node, x);
  const std::size_t sp = x.size() - 2;
  PoolSetup s;
  s.strides.assign(g.strides.begin(), g.strides.end());
  s.kernel.assign(g.kernel.begin(), g.kernel.end());
  s.pad_l.assign(g.pads_begin.begin(), g.pads_begin.end());
  s.dilations.resize(sp);
  s.pad_r.resize(sp);
  for (std::size_t i = 0; i < sp; ++i) {
    s.dilations[i] = g.dilations[i] - 1;
    s.pad_r[i] = onednn_right_padding(g, i, x[2 + i]);
    if (s.pad_r[i] < 0 || g.output_shape[2 + i] <= 0) return std::nullopt;
  }
  const ir::Attribute* include_pad = node.find("count_include_pad");
  s.algorithm =
      max ? dnnl::algorithm::pooling_max
          : (include_pad && include_pad->i ? dnnl::algorithm::pooling_avg_include_padding
                                           : dnnl::algorithm::pooling_avg_exclude_padding);
  s.output_shape = g.output_shape;
  return s;
}

// The set-up where oneDNN pools `node` (MaxPool without indices, or AveragePool); nullopt for
// every other node and case.
std::optional<PoolSetup> supported_pool_setup(const ir::Node& node, const Shape& x) {
  if (node.op_type != "MaxPool" && node.op_type != "AveragePool") return std::nullopt;
  if (node.outputs.size() > 1 && !node.outputs[1].empty()) return std::nullopt;  // indices
  try {
    return onednn_pool_setup(node, x);
  } catch (const Error&) {
    return std::nullopt;  // inconsistent attributes: the C++ kernel reports them
  }
}

}  // namespace

bool onednn_pools(const ir::Node& node, const Shape& x) {
  return supported_pool_setup(node, x).has_value();
}

bool pool_fast_path(OpContext& ctx) {
  if (!ctx.cache() || !all_f32(ctx, 1) || ctx.wants_output(1)) return false;
  const Tensor& x = ctx.input(0);
  struct Prepared {
    dnnl::primitive primitive;
    dnnl::memory::desc src, dst;
    Shape output_shape;
  };
  auto p = cached<Prepared>(ctx, to_string(x.shape()), [&]() -> std::shared_ptr<const Prepared> {
    const std::optional<PoolSetup> setup = supported_pool_setup(ctx.node(), x.shape());
    if (!setup) return nullptr;
    const PoolSetup& s = *setup;
    // Channels-last or blocked where layout propagation kept the convolutions' layout through
    // this node (the internal MaxPool/AveragePool); plain otherwise.
    const std::string layout = ctx.attr_s("layout", "");
    const dnnl::memory::desc src = onednn::activation(x.shape(), layout),
                             dst = onednn::activation(s.output_shape, layout);
    dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, s.algorithm, src, dst,
                                     s.strides, s.kernel, s.dilations, s.pad_l, s.pad_r);
    return std::make_shared<const Prepared>(
        Prepared{dnnl::pooling_v2_forward(dnnl::pooling_v2_forward::primitive_desc(d, engine())),
                 src, dst, s.output_shape});
  });
  if (!p) return false;
  Tensor out = Tensor::uninitialized(ElementType::f32, p->output_shape);
  onednn::execute(p->primitive,
                  {{DNNL_ARG_SRC, {p->src, x.data()}}, {DNNL_ARG_DST, {p->dst, out.data()}}});
  ctx.set_output(0, out);
  return true;
}

bool layer_norm_over_rows(OpContext& ctx, const Shape& shape, const float* x, float* y,
                          const float* scale, const float* shift, float epsilon) {
  if (!ctx.cache() || shape.size() < 2) return false;
  const int64_t c = shape.back();
  struct Prepared {
    dnnl::primitive primitive;
    dnnl::memory::desc md, vec;
  };
  auto p = cached<Prepared>(ctx, to_string(shape) + (shift ? "b" : ""), [&] {
    const dnnl::memory::desc md = plain_f32(shape);
    auto flags = dnnl::normalization_flags::use_scale;
    if (shift) flags = flags | dnnl::normalization_flags::use_shift;
    dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, md, epsilon,
                                              flags);
    return std::make_shared<const Prepared>(Prepared{
        dnnl::layer_normalization_forward(
            onednn::jit_only(dnnl::layer_normalization_forward::primitive_desc(d, engine()))),
        md, plain_f32({c})});
  });
  if (!p) return false;
  std::unordered_map<int, std::pair<dnnl::memory::desc, const void*>> args = {
      {DNNL_ARG_SRC, {p->md, x}}, {DNNL_ARG_DST, {p->md, y}}, {DNNL_ARG_SCALE, {p->vec, scale}}};
  if (shift) args[DNNL_ARG_SHIFT] = {p->vec, shift};
  onednn::execute(p->primitive, args);
  return true;
}

bool layer_norm_fast_path(OpContext& ctx) {
  // Mean and inverse standard deviation (outputs 1, 2) are left to the C++ kernel.
  if (!ctx.cache() || !all_f32(ctx, 2) || ctx.wants_output(1) || ctx.wants_output(2)) return false;
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  if (bias && bias->element_type() != ElementType::f32) return false;
  if (x.rank() < 2 || x.element_count() == 0) return false;
  int64_t axis = ctx.attr_i("axis", -1);
  if (axis < 0) axis += x.rank();
  const int64_t c = x.shape().back();
  // oneDNN normalises over the last axis with per-channel scale and shift of that length.
  if (axis != x.rank() - 1 || scale.element_count() != c || (bias && bias->element_count() != c))
    return false;
  Tensor out = Tensor::uninitialized(ElementType::f32, x.shape());
  if (!layer_norm_over_rows(ctx, x.shape(), x.data_as<float>(), out.data_as<float>(),
                            scale.data_as<float>(), bias ? bias->data_as<float>() : nullptr,
                            ctx.attr_f("epsilon", 1e-5f)))
    return false;
  ctx.set_output(0, out);
  return true;
}

bool transpose_fast_path(OpContext& ctx, const std::vector<int64_t>& perm) {
  if (!ctx.cache() || !all_f32(ctx, 1)) return false;
  const Tensor& x = ctx.input(0);
  const std::size_t rank = static_cast<std::size_t>(x.rank());
  if (rank < 2 || rank > DNNL_MAX_NDIMS || perm.size() != rank || x.element_count() == 0)
    return false;
  // Source: the input seen in the output's axis order (strides permuted); destination: plain.
  dnnl::memory::dims out_dims(rank), src_strides(rank);
  const auto in_strides = strides_of(x.shape());
  std::vector<bool> seen(rank, false);
  for (std::size_t i = 0; i < rank; ++i) {
    if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(rank) || seen[perm[i]]) return false;
    seen[perm[i]] = true;
    out_dims[i] = x.shape()[perm[i]];
    src_strides[i] = in_strides[perm[i]];
  }
  const Shape out_shape(out_dims.begin(), out_dims.end());
  auto p = cached<SameShapePrimitive>(ctx, to_string(x.shape()), [&] {
    const dnnl::memory::desc src(out_dims, dnnl::memory::data_type::f32, src_strides);
    const dnnl::reorder::primitive_desc pd(engine(), src, engine(), plain_f32(out_shape));
    return std::make_shared<const SameShapePrimitive>(SameShapePrimitive{dnnl::reorder(pd), src});
  });
  if (!p) return false;
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  onednn::execute(p->primitive, {{DNNL_ARG_FROM, {p->md, x.data()}},
                                 {DNNL_ARG_TO, {plain_f32(out_shape), out.data()}}});
  ctx.set_output(0, out);
  return true;
}

}  // namespace sinter::cpu
