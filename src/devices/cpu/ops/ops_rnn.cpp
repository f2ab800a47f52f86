// Recurrent layers: RNN, GRU and LSTM (ONNX opset 7/14 semantics, both layouts, all directions,
// sequence_lens, clip, custom activations, LSTM peepholes and input_forget).
//
// Computed as fast implementations do: the input contributions of all time steps in one matrix
// product per direction up front; then per time step one small product of the batch's states with
// the recurrent weights and the gate arithmetic over whole rows. Directions run in parallel.
// f32 computes in float (f16/bf16 are widened to it), f64 in double.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/dynamic_quant.hpp"
#include "devices/cpu/ops/linalg.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

enum class ActivationKind {
  sigmoid,
  tanh,
  relu,
  softsign,
  softplus,
  leaky_relu,
  thresholded_relu,
  elu,
  affine,
  scaled_tanh,
  hard_sigmoid
};

struct Activation {
  ActivationKind kind;
  double alpha = 0, beta = 0;
};

// The activation named `name`; alpha/beta are taken from the attribute lists in order, for the
// functions that have parameters, as the ONNX spec describes.
Activation make_activation(const OpContext& ctx, const std::string& name,
                           const std::vector<float>& alphas, const std::vector<float>& betas,
                           size_t& next_alpha, size_t& next_beta) {
  auto alpha = [&](double fallback) {
    return next_alpha < alphas.size() ? double(alphas[next_alpha++]) : fallback;
  };
  auto beta = [&](double fallback) {
    return next_beta < betas.size() ? double(betas[next_beta++]) : fallback;
  };
  using K = ActivationKind;
  if (name == "Sigmoid") return {K::sigmoid};
  if (name == "Tanh") return {K::tanh};
  if (name == "Relu") return {K::relu};
  if (name == "Softsign") return {K::softsign};
  if (name == "Softplus") return {K::softplus};
  if (name == "LeakyRelu") return {K::leaky_relu, alpha(0.01)};
  if (name == "ThresholdedRelu") return {K::thresholded_relu, alpha(1.0)};
  if (name == "Elu") return {K::elu, alpha(1.0)};
  if (name == "Affine") {
    const double a = alpha(1.0);
    return {K::affine, a, beta(0.0)};
  }
  if (name == "ScaledTanh") {
    const double a = alpha(1.0);
    return {K::scaled_tanh, a, beta(1.0)};
  }
  if (name == "HardSigmoid") {
    const double a = alpha(0.2);
    return {K::hard_sigmoid, a, beta(0.5)};
  }
  ctx.fail(ErrorCategory::unsupported_op, "activation '{}' is not supported", name);
}

template <typename T, typename F>
void map_in_place(T* v, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) v[i] = f(v[i]);
}

// v[i] = act(v[i]). Sigmoid and Tanh, the defaults, use the vectorised float kernels.
template <typename T>
void apply_activation(const Activation& act, T* v, int64_t n) {
  const T a = static_cast<T>(act.alpha), b = static_cast<T>(act.beta);
  switch (act.kind) {
    case ActivationKind::sigmoid:
      if constexpr (std::is_same_v<T, float>) return vec::sigmoid(v, n);
      return map_in_place(v, n, [](T x) { return T(1) / (T(1) + std::exp(-x)); });
    case ActivationKind::tanh:
      if constexpr (std::is_same_v<T, float>) return vec::tanh(v, n);
      return map_in_place(v, n, [](T x) { return std::tanh(x); });
    case ActivationKind::relu:
      return map_in_place(v, n, [](T x) { return x > 0 ? x : T(0); });
    case ActivationKind::softsign:
      return map_in_place(v, n, [](T x) { return x / (T(1) + std::fabs(x)); });
    case ActivationKind::softplus:
      return map_in_place(v, n, [](T x) { return std::log1p(std::exp(x)); });
    case ActivationKind::leaky_relu:
      return map_in_place(v, n, [a](T x) { return x >= 0 ? x : a * x; });
    case ActivationKind::thresholded_relu:
      return map_in_place(v, n, [a](T x) { return x > a ? x : T(0); });
    case ActivationKind::elu:
      return map_in_place(v, n, [a](T x) { return x >= 0 ? x : a * (std::exp(x) - T(1)); });
    case ActivationKind::affine:
      return map_in_place(v, n, [a, b](T x) { return a * x + b; });
    case ActivationKind::scaled_tanh:
      return map_in_place(v, n, [a, b](T x) { return a * std::tanh(b * x); });
    case ActivationKind::hard_sigmoid:
      return map_in_place(v, n, [a, b](T x) { return std::max(T(0), std::min(T(1), a * x + b)); });
  }
}

// What RNN, GRU and LSTM share: shapes, layout, directions, weights, biases, lengths.
template <typename T>
struct Recurrence {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1, gates = 1;
  bool batch_first = false;      // layout = 1
  bool all_reverse = false;      // direction = "reverse"
  T clip = 0;                    // 0: no clipping
  const T* x = nullptr;          // [seq, batch, input] or [batch, seq, input]
  const T* w = nullptr;          // [dirs, gates * hidden, input]
  const T* r = nullptr;          // [dirs, gates * hidden, hidden]
  std::vector<T> bias;           // [dirs, 2 * gates * hidden]: input biases, then recurrent ones
  std::vector<int64_t> lengths;  // per batch row
  std::vector<Activation> activations;  // per direction: `per_dir` functions each
  size_t per_dir = 0;

  int64_t width() const { return gates * hidden; }
  int64_t x_row(int64_t t, int64_t b) const { return batch_first ? b * seq + t : t * batch + b; }
  bool reversed(int64_t d) const { return all_reverse || d == 1; }
  // The time index batch row b processes at step i of direction d; -1 once its sequence ended.
  int64_t time_at(int64_t d, int64_t b, int64_t i) const {
    const int64_t len = lengths[b];
    if (i >= len) return -1;
    return reversed(d) ? len - 1 - i : i;
  }
  int64_t longest() const {
    return lengths.empty() ? 0 : *std::max_element(lengths.begin(), lengths.end());
  }
  const Activation& act(int64_t d, size_t i) const { return activations[d * per_dir + i]; }
  const T* input_bias(int64_t d) const { return &bias[d * 2 * width()]; }
  const T* recurrent_bias(int64_t d) const { return &bias[d * 2 * width() + width()]; }
  void clip_values(T* v, int64_t n) const {
    if (clip > 0) map_in_place(v, n, [c = clip](T x) { return std::max(-c, std::min(c, x)); });
  }
};

template <typename T>
Recurrence<T> read_recurrence(const OpContext& ctx, int64_t gates,
                              const std::vector<std::string>& default_acts) {
  Recurrence<T> rc;
  rc.gates = gates;
  const Tensor& X = ctx.input(0);
  const Tensor& W = ctx.input(1);
  const Tensor& R = ctx.input(2);
  ctx.check(X.rank() == 3 && W.rank() == 3 && R.rank() == 3,
            "X, W and R must have rank 3, got {}, {}, {}", to_string(X.shape()),
            to_string(W.shape()), to_string(R.shape()));
  for (size_t i = 1; i < ctx.input_count(); ++i) {
    const Tensor* t = ctx.optional_input(i);
    ctx.check(!t || i == 4 || t->element_type() == X.element_type(), "input {} is {} but X is {}",
              i, to_string(t ? t->element_type() : X.element_type()), to_string(X.element_type()));
  }
  rc.batch_first = ctx.attr_i("layout", 0) == 1;
  rc.seq = X.shape()[rc.batch_first ? 1 : 0];
  rc.batch = X.shape()[rc.batch_first ? 0 : 1];
  rc.input = X.shape()[2];
  rc.hidden = ctx.attr_i("hidden_size", R.shape()[2]);
  const std::string direction = ctx.attr_s("direction", "forward");
  ctx.check(direction == "forward" || direction == "reverse" || direction == "bidirectional",
            "direction '{}' is not forward, reverse or bidirectional", direction);
  rc.dirs = direction == "bidirectional" ? 2 : 1;
  rc.all_reverse = direction == "reverse";
  ctx.check(W.shape() == Shape{rc.dirs, gates * rc.hidden, rc.input},
            "W has shape {}, expected [{},{},{}]", to_string(W.shape()), rc.dirs, gates * rc.hidden,
            rc.input);
  ctx.check(R.shape() == Shape{rc.dirs, gates * rc.hidden, rc.hidden},
            "R has shape {}, expected [{},{},{}]", to_string(R.shape()), rc.dirs, gates * rc.hidden,
            rc.hidden);
  rc.x = X.data_as<T>();
  rc.w = W.data_as<T>();
  rc.r = R.data_as<T>();
  rc.bias.assign(rc.dirs * 2 * gates * rc.hidden, T(0));
  if (const Tensor* B = ctx.optional_input(3)) {
    ctx.check(B->element_count() == static_cast<int64_t>(rc.bias.size()),
              "B has shape {}, expected [{},{}]", to_string(B->shape()), rc.dirs,
              2 * gates * rc.hidden);
    std::copy_n(B->data_as<T>(), rc.bias.size(), rc.bias.begin());
  }
  rc.lengths.assign(rc.batch, rc.seq);
  if (const Tensor* L = ctx.optional_input(4)) {
    rc.lengths = to_int64_vector(ctx, *L);
    ctx.check(static_cast<int64_t>(rc.lengths.size()) == rc.batch,
              "sequence_lens has {} entries for a batch of {}", rc.lengths.size(), rc.batch);
    for (int64_t len : rc.lengths)
      ctx.check(len >= 0 && len <= rc.seq, "sequence length {} outside [0, {}]", len, rc.seq);
  }
  rc.clip = static_cast<T>(ctx.attr_f("clip", 0.0f));
  std::vector<std::string> names =
      ctx.has_attr("activations") ? std::vector<std::string>{} : default_acts;
  if (ctx.has_attr("activations")) {
    for (const auto& s : ctx.attr("activations").strings) names.push_back(s);
  } else if (rc.dirs == 2) {
    names.insert(names.end(), default_acts.begin(), default_acts.end());
  }
  rc.per_dir = default_acts.size();
  ctx.check(names.size() == rc.per_dir * rc.dirs, "expected {} activations, got {}",
            rc.per_dir * rc.dirs, names.size());
  const auto alphas = ctx.attr_floats("activation_alpha");
  const auto betas = ctx.attr_floats("activation_beta");
  size_t ia = 0, ib = 0;
  for (const auto& n : names)
    rc.activations.push_back(make_activation(ctx, n, alphas, betas, ia, ib));
  return rc;
}

// An initial state input ([dirs, batch, hidden], or [batch, dirs, hidden] with layout 1) as
// [dirs][batch][hidden]; zeros when absent.
template <typename T>
std::vector<T> initial_state(const OpContext& ctx, const Recurrence<T>& rc, size_t index) {
  std::vector<T> s(rc.dirs * rc.batch * rc.hidden, T(0));
  const Tensor* t = ctx.optional_input(index);
  if (!t) return s;
  ctx.check(t->element_count() == static_cast<int64_t>(s.size()),
            "initial state has shape {}, expected {} elements", to_string(t->shape()), s.size());
  const T* v = t->data_as<T>();
  for (int64_t d = 0; d < rc.dirs; ++d)
    for (int64_t b = 0; b < rc.batch; ++b)
      std::copy_n(v + (rc.batch_first ? b * rc.dirs + d : d * rc.batch + b) * rc.hidden, rc.hidden,
                  &s[(d * rc.batch + b) * rc.hidden]);
  return s;
}

template <typename T>
void matrix_product(bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
                    const T* b, int64_t ldb, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    gemm_f32(false, trans_b, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c, ldc);
  else
    gemm_generic<T, T>(false, trans_b, m, n, k, T(1), a, lda, b, ldb, T(1), c, ldc);
}

// out[i][:n] += R times a[i][:k] for the m rows of a recurrent step: R's rows (one per gate
// column, ldr apart) are read contiguously, as ONNX stores them, so no transposed copy is made.
template <typename T>
void step_product(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* r, int64_t ldr,
                  T* out, int64_t ldo) {
  if constexpr (std::is_same_v<T, float>) {
    vec::accumulate_dot_products(m, n, k, a, lda, r, ldr, out, ldo);
  } else {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        T s = T(0);
        for (int64_t p = 0; p < k; ++p) s += a[i * lda + p] * r[j * ldr + p];
        out[i * ldo + j] += s;
      }
  }
}

// R as the step products read it. For small layers (f32, R within kTransposedStepFloats),
// transposed, [dirs][hidden][width]: a step is then rows of the state times rows of R^T added
// to the gates, whole vectors of gate columns at a time, where the dot products with R's rows
// end each of the width columns in a horizontal sum, which for the hidden sizes of taggers and
// voice detectors (64: four vectors per dot product) cost more than the products. Large layers
// keep the dot products: walking R^T column block by column block reads rows `width` floats
// apart, bound by memory latency once R leaves the cache (see docs/cpu-device.md). Made once
// where R is a graph constant.
constexpr int64_t kTransposedStepFloats = 1 << 16;  // 256 KiB
template <typename T>
struct StepWeights {
  const T* r = nullptr;  // [dirs][width][hidden], as ONNX stores it
  std::shared_ptr<const std::vector<T>> transposed;
  int64_t width = 0, hidden = 0;

  // out[b][0, n) += h[b] . R[d] rows [row0, row0 + n), for the m rows of h.
  void add(int64_t d, int64_t row0, int64_t n, int64_t m, const T* h, T* out, int64_t ldo) const {
    if constexpr (std::is_same_v<T, float>) {
      if (transposed) {
        vec::accumulate_product(m, n, hidden, h, hidden,
                                transposed->data() + d * hidden * width + row0, width, out, ldo);
        return;
      }
    }
    step_product(m, n, hidden, h, hidden, r + (d * width + row0) * hidden, hidden, out, ldo);
  }
};

template <typename T>
StepWeights<T> step_weights(const OpContext& ctx, const Recurrence<T>& rc) {
  StepWeights<T> sw;
  sw.r = rc.r;
  sw.width = rc.width();
  sw.hidden = rc.hidden;
  if constexpr (std::is_same_v<T, float>) {
    if (rc.width() * rc.hidden > kTransposedStepFloats) return sw;
    const bool cached = ctx.input_is_constant(2) && ctx.cache();
    // Without a cache the copy is one more pass over R: worth it over a few steps only.
    if (!cached && rc.longest() < 4) return sw;
    auto make = [&] {
      auto t = std::make_shared<std::vector<float>>(
          static_cast<std::size_t>(rc.dirs * rc.hidden * rc.width()));
      const int64_t W = rc.width(), H = rc.hidden;
      for (int64_t d = 0; d < rc.dirs; ++d)
        for (int64_t j = 0; j < W; ++j)
          for (int64_t p = 0; p < H; ++p) (*t)[(d * H + p) * W + j] = rc.r[(d * W + j) * H + p];
      return std::shared_ptr<const std::vector<float>>(std::move(t));
    };
    sw.transposed =
        cached ? ctx.cache()->get_or_make<std::vector<float>>("R transposed", make) : make();
  }
  return sw;
}

// The input contributions of every time step, [dirs][X's rows][width]: X times W[d] transposed
// plus `bias[d]` (width entries per direction).
template <typename T>
std::vector<T> input_contributions(const Recurrence<T>& rc, const std::vector<T>& bias) {
  const int64_t rows = rc.seq * rc.batch, width = rc.width();
  std::vector<T> xw(rc.dirs * rows * width);
  for (int64_t d = 0; d < rc.dirs; ++d) {
    T* out = &xw[d * rows * width];
    for (int64_t i = 0; i < rows; ++i) std::copy_n(&bias[d * width], width, out + i * width);
    if (rows > 0 && rc.input > 0)
      matrix_product<T>(true, rows, width, rc.input, rc.x, rc.input, rc.w + d * width * rc.input,
                        rc.input, out, width);
  }
  return xw;
}

// Input plus recurrent bias per direction and gate column ([dirs][width]), added to the input
// contributions up front; columns from `recurrent_until` on get the input bias only (GRU's
// hidden gate with linear_before_reset, whose recurrent bias the reset gate scales).
template <typename T>
std::vector<T> summed_biases(const Recurrence<T>& rc, int64_t recurrent_until) {
  const int64_t width = rc.width();
  std::vector<T> bias(rc.dirs * width);
  for (int64_t d = 0; d < rc.dirs; ++d)
    for (int64_t j = 0; j < width; ++j)
      bias[d * width + j] =
          rc.input_bias(d)[j] + (j < recurrent_until ? rc.recurrent_bias(d)[j] : T(0));
  return bias;
}

// The outputs in the layout's order: Y (zeros after each row's sequence ends) and final states.
template <typename T>
struct RecurrentOutputs {
  const Recurrence<T>& rc;
  Tensor y;
  RecurrentOutputs(const Recurrence<T>& r, ElementType type)
      : rc(r),
        y(type, r.batch_first ? Shape{r.batch, r.seq, r.dirs, r.hidden}
                              : Shape{r.seq, r.dirs, r.batch, r.hidden}) {}
  T* y_at(int64_t t, int64_t d, int64_t b) {
    const int64_t i =
        rc.batch_first ? ((b * rc.seq + t) * rc.dirs + d) : ((t * rc.dirs + d) * rc.batch + b);
    return y.data_as<T>() + i * rc.hidden;
  }
  // A state [dirs][batch][hidden] in the layout's order.
  Tensor state(const std::vector<T>& s, ElementType type) const {
    Tensor out(type, rc.batch_first ? Shape{rc.batch, rc.dirs, rc.hidden}
                                    : Shape{rc.dirs, rc.batch, rc.hidden});
    T* o = out.data_as<T>();
    for (int64_t d = 0; d < rc.dirs; ++d)
      for (int64_t b = 0; b < rc.batch; ++b)
        std::copy_n(&s[(d * rc.batch + b) * rc.hidden], rc.hidden,
                    o + (rc.batch_first ? b * rc.dirs + d : d * rc.batch + b) * rc.hidden);
    return out;
  }
};

// Runs direction_body(d) for every direction, in parallel when there are two.
template <typename Body>
void for_each_direction(int64_t dirs, Body&& body) {
  parallel_for(dirs, dirs > 1, [&](int64_t d) { body(d); });
}

// Loads the input contributions of each row's current time step into gates[b], the columns of
// hidden units [j0, j1) of every gate (zeros for rows whose sequence ended); returns whether
// any row is still running.
template <typename T>
bool load_units(const Recurrence<T>& rc, int64_t d, int64_t i, const T* xw, T* gates, int64_t j0,
                int64_t j1) {
  const int64_t width = rc.width();
  bool any = false;
  for (int64_t b = 0; b < rc.batch; ++b) {
    const int64_t t = rc.time_at(d, b, i);
    any = any || t >= 0;
    for (int64_t k = 0; k < rc.gates; ++k) {
      T* g = gates + b * width + k * rc.hidden;
      if (t < 0)
        std::fill(g + j0, g + j1, T(0));
      else
        std::copy(xw + rc.x_row(t, b) * width + k * rc.hidden + j0,
                  xw + rc.x_row(t, b) * width + k * rc.hidden + j1, g + j0);
    }
  }
  return any;
}

// load_units for all hidden units.
template <typename T>
bool load_step(const Recurrence<T>& rc, int64_t d, int64_t i, const T* xw, T* gates) {
  return load_units(rc, d, i, xw, gates, 0, rc.hidden);
}

template <typename T>
void rnn(OpContext& ctx) {
  const auto rc = read_recurrence<T>(ctx, 1, {"Tanh"});
  const ElementType type = ctx.input(0).element_type();
  const int64_t H = rc.hidden, rows = rc.seq * rc.batch;
  const auto xw = input_contributions(rc, summed_biases(rc, rc.width()));
  const StepWeights<T> weights = step_weights(ctx, rc);
  std::vector<T> h = initial_state(ctx, rc, 5);
  RecurrentOutputs<T> out(rc, type);
  const int64_t steps = rc.longest();
  for_each_direction(rc.dirs, [&](int64_t d) {
    std::vector<T> gates(rc.batch * H);
    T* hd = &h[d * rc.batch * H];
    for (int64_t i = 0; i < steps; ++i) {
      if (!load_step(rc, d, i, &xw[d * rows * H], gates.data())) break;
      weights.add(d, 0, H, rc.batch, hd, gates.data(), H);
      for (int64_t b = 0; b < rc.batch; ++b) {
        const int64_t t = rc.time_at(d, b, i);
        if (t < 0) continue;
        T* g = &gates[b * H];
        rc.clip_values(g, H);
        apply_activation(rc.act(d, 0), g, H);
        std::copy_n(g, H, hd + b * H);
        std::copy_n(g, H, out.y_at(t, d, b));
      }
    }
  });
  ctx.set_output(0, out.y);
  ctx.set_output(1, out.state(h, type));
}

template <typename T>
void gru(OpContext& ctx) {
  const auto rc = read_recurrence<T>(ctx, 3, {"Sigmoid", "Tanh"});
  const bool linear_before_reset = ctx.attr_i("linear_before_reset", 0) != 0;
  const ElementType type = ctx.input(0).element_type();
  const int64_t H = rc.hidden, W = rc.width(), rows = rc.seq * rc.batch;
  // Gate order in W, R and B: update (z), reset (r), hidden (h).
  const auto xw = input_contributions(rc, summed_biases(rc, linear_before_reset ? 2 * H : W));
  const StepWeights<T> weights = step_weights(ctx, rc);
  std::vector<T> h = initial_state(ctx, rc, 5);
  RecurrentOutputs<T> out(rc, type);
  const int64_t steps = rc.longest();
  for_each_direction(rc.dirs, [&](int64_t d) {
    std::vector<T> gates(rc.batch * W), hidden_part(rc.batch * H), reset_h(rc.batch * H);
    T* hd = &h[d * rc.batch * H];
    const T* hidden_bias = rc.recurrent_bias(d) + 2 * H;
    for (int64_t i = 0; i < steps; ++i) {
      if (!load_step(rc, d, i, &xw[d * rows * W], gates.data())) break;
      // z and r: R_z h and R_r h.
      weights.add(d, 0, 2 * H, rc.batch, hd, gates.data(), W);
      for (int64_t b = 0; b < rc.batch; ++b) {
        T* g = &gates[b * W];
        rc.clip_values(g, 2 * H);
        apply_activation(rc.act(d, 0), g, 2 * H);
        const T* r = g + H;
        if (linear_before_reset) {
          std::copy_n(hidden_bias, H, &hidden_part[b * H]);
        } else {
          for (int64_t j = 0; j < H; ++j) reset_h[b * H + j] = r[j] * hd[b * H + j];
        }
      }
      // R_h h (linear_before_reset, plus its bias) or R_h (r * h), into hidden_part / gates.
      if (linear_before_reset)
        weights.add(d, 2 * H, H, rc.batch, hd, hidden_part.data(), H);
      else
        weights.add(d, 2 * H, H, rc.batch, reset_h.data(), gates.data() + 2 * H, W);
      for (int64_t b = 0; b < rc.batch; ++b) {
        const int64_t t = rc.time_at(d, b, i);
        if (t < 0) continue;
        T* g = &gates[b * W];
        const T* z = g;
        const T* r = g + H;
        T* candidate = g + 2 * H;
        if (linear_before_reset)
          for (int64_t j = 0; j < H; ++j) candidate[j] += r[j] * hidden_part[b * H + j];
        rc.clip_values(candidate, H);
        apply_activation(rc.act(d, 1), candidate, H);
        T* hb = hd + b * H;
        for (int64_t j = 0; j < H; ++j) hb[j] = (T(1) - z[j]) * candidate[j] + z[j] * hb[j];
        std::copy_n(hb, H, out.y_at(t, d, b));
      }
    }
  });
  ctx.set_output(0, out.y);
  ctx.set_output(1, out.state(h, type));
}

// What the LSTM cell update reads besides the gates: peepholes, input_forget, the activations.
template <typename T>
struct LstmCell {
  const Recurrence<T>& rc;
  bool input_forget = false;
  std::vector<T> peep;  // [dirs][i, o, f][hidden]

  // The cell update of hidden units [j0, j1) of one batch row of direction d: `g` is the row's
  // gates [i, o, f, c][hidden] with the recurrent contribution added; c is updated in place and
  // the new hidden state written to h (which may be the state the gates were computed from).
  void update(int64_t d, T* g, T* c, T* h, int64_t j0, int64_t j1) const {
    const int64_t H = rc.hidden, n = j1 - j0;
    // Gate order in W, R and B: input (i), output (o), forget (f), cell (c).
    T* gi = g + j0;
    T* go = gi + H;
    T* gf = gi + 2 * H;
    T* gc = gi + 3 * H;
    T* cb = c + j0;
    T* hb = h + j0;
    const T* pi = &peep[d * 3 * H] + j0;
    const T* po = pi + H;
    const T* pf = pi + 2 * H;
    for (int64_t j = 0; j < n; ++j) gi[j] += pi[j] * cb[j];
    rc.clip_values(gi, n);
    apply_activation(rc.act(d, 0), gi, n);
    if (input_forget) {
      for (int64_t j = 0; j < n; ++j) gf[j] = T(1) - gi[j];
    } else {
      for (int64_t j = 0; j < n; ++j) gf[j] += pf[j] * cb[j];
      rc.clip_values(gf, n);
      apply_activation(rc.act(d, 0), gf, n);
    }
    rc.clip_values(gc, n);
    apply_activation(rc.act(d, 1), gc, n);
    for (int64_t j = 0; j < n; ++j) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
    for (int64_t j = 0; j < n; ++j) go[j] += po[j] * cb[j];
    rc.clip_values(go, n);
    apply_activation(rc.act(d, 0), go, n);
    // h = o * act2(c), with act2(c) computed in the cell gate's slot (no longer needed).
    std::copy_n(cb, n, gc);
    apply_activation(rc.act(d, 2), gc, n);
    for (int64_t j = 0; j < n; ++j) hb[j] = go[j] * gc[j];
  }
};

template <typename T>
LstmCell<T> read_lstm_cell(const OpContext& ctx, const Recurrence<T>& rc) {
  LstmCell<T> cell{rc, ctx.attr_i("input_forget", 0) != 0,
                   std::vector<T>(rc.dirs * 3 * rc.hidden, T(0))};
  if (const Tensor* P = ctx.optional_input(7)) {
    ctx.check(P->element_count() == static_cast<int64_t>(cell.peep.size()),
              "P has shape {}, expected [{},{}]", to_string(P->shape()), rc.dirs, 3 * rc.hidden);
    std::copy_n(P->data_as<T>(), cell.peep.size(), cell.peep.begin());
  }
  return cell;
}

// The LSTM cells over all steps, given the input contributions (with biases) and a function
// that adds a step's recurrent contribution: step(d, h of direction d [batch][hidden], gates
// [batch][4 * hidden]). Directions run in parallel, each on one thread.
template <typename T, typename Step>
void lstm_cells(OpContext& ctx, const Recurrence<T>& rc, const std::vector<T>& xw, Step&& step) {
  const LstmCell<T> cell = read_lstm_cell(ctx, rc);
  const ElementType type = ctx.input(0).element_type();
  const int64_t H = rc.hidden, W = rc.width(), rows = rc.seq * rc.batch;
  std::vector<T> h = initial_state(ctx, rc, 5), c = initial_state(ctx, rc, 6);
  RecurrentOutputs<T> out(rc, type);
  const int64_t steps = rc.longest();
  for_each_direction(rc.dirs, [&](int64_t d) {
    std::vector<T> gates(rc.batch * W);
    T* hd = &h[d * rc.batch * H];
    T* cd = &c[d * rc.batch * H];
    for (int64_t i = 0; i < steps; ++i) {
      if (!load_step(rc, d, i, &xw[d * rows * W], gates.data())) break;
      step(d, hd, gates.data());
      for (int64_t b = 0; b < rc.batch; ++b) {
        const int64_t t = rc.time_at(d, b, i);
        if (t < 0) continue;
        cell.update(d, &gates[b * W], cd + b * H, hd + b * H, 0, H);
        std::copy_n(hd + b * H, H, out.y_at(t, d, b));
      }
    }
  });
  ctx.set_output(0, out.y);
  ctx.set_output(1, out.state(h, type));
  ctx.set_output(2, out.state(c, type));
}

// Recurrent products of at least this many multiply-adds per step are split across the
// threads by hidden units, one direction after the other: each thread then reads the same
// slice of R at every step (2 MiB of a 512-unit layer's 4 MiB with two threads), which can stay
// in its own cache, where a thread per direction reads all of R each step from the shared cache
// or memory (ddddocr's 512-unit bidirectional LSTM on a 2-core Xeon: 6.2 ms -> 3.7 ms).
constexpr int64_t kSplitStepMacs = 1 << 18;

bool split_steps_pay(const Recurrence<float>& rc) {
  return omp_get_max_threads() > 1 && rc.batch * rc.width() * rc.hidden >= kSplitStepMacs;
}

// gates[b][k * hidden + u] += R[k * hidden + u] . h[b] for the four gates k and the units
// [j0, j1), in chunks of rows visited forwards on even steps and backwards on odd ones: a slice
// of R about the size of the cache, read in the same order every step, would miss on every line
// (least recently used goes first); reversed, the lines read last are read again first.
void zigzag_step_products(int64_t step, const Recurrence<float>& rc, int64_t j0, int64_t j1,
                          const float* r, const float* h, float* gates) {
  constexpr int64_t kChunk = 32;
  const int64_t H = rc.hidden, per_gate = (j1 - j0 + kChunk - 1) / kChunk, chunks = 4 * per_gate;
  for (int64_t q = 0; q < chunks; ++q) {
    const int64_t at = step % 2 == 0 ? q : chunks - 1 - q;
    const int64_t first = j0 + (at % per_gate) * kChunk;
    const int64_t row = (at / per_gate) * H + first, n = std::min(kChunk, j1 - first);
    step_product(rc.batch, n, H, h, H, r + row * H, H, gates + row, rc.width());
  }
}

// The input contributions of units [j0, j1) of direction d (the same rows of W as the thread's
// rows of R, and the columns its steps read): bias plus X times those rows of W.
void input_contributions_of_units(const Recurrence<float>& rc, int64_t d, int64_t j0, int64_t j1,
                                  const float* bias, float* xw) {
  const int64_t H = rc.hidden, W = rc.width(), rows = rc.seq * rc.batch;
  if (j1 <= j0) return;
  for (int64_t k = 0; k < 4; ++k) {
    const int64_t col = k * H + j0;
    for (int64_t r = 0; r < rows; ++r) std::copy(bias + col, bias + k * H + j1, xw + r * W + col);
    if (rc.input > 0)
      gemm_f32(false, true, rows, j1 - j0, rc.input, 1.0f, rc.x, rc.input,
               rc.w + (d * W + col) * rc.input, rc.input, 1.0f, xw + col, W);
  }
}

// lstm_cells for f32 with every step split across the OpenMP team by hidden units: a thread
// computes all four gates of its units (rows g * hidden + [j0, j1) of R), updates their cells and
// writes their new hidden state into the other of two buffers; one barrier per step.
void lstm_cells_split(OpContext& ctx, const Recurrence<float>& rc, const std::vector<float>& bias) {
  const LstmCell<float> cell = read_lstm_cell(ctx, rc);
  const ElementType type = ctx.input(0).element_type();
  const int64_t H = rc.hidden, W = rc.width(), rows = rc.seq * rc.batch, B = rc.batch;
  std::vector<float> h = initial_state(ctx, rc, 5), c = initial_state(ctx, rc, 6);
  std::vector<float> h_other(h.size()), gates(static_cast<std::size_t>(B * W));
  std::vector<float> xw(static_cast<std::size_t>(rc.dirs * rows * W));
  RecurrentOutputs<float> out(rc, type);
  const int64_t steps = rc.longest();
#pragma omp parallel
  {
    // Slices in whole cache lines, so that no two threads write the same line of the gates.
    const int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
    const int64_t lines = (H + 15) / 16;
    const int64_t j0 = std::min(H, lines * me / threads * 16);
    const int64_t j1 = std::min(H, lines * (me + 1) / threads * 16);
    for (int64_t d = 0; d < rc.dirs; ++d) {
      float* current = &h[d * B * H];
      float* next = &h_other[d * B * H];
      float* xd = &xw[d * rows * W];
      input_contributions_of_units(rc, d, j0, j1, &bias[d * W], xd);
      const float* rd = rc.r + d * W * H;
      // Every thread takes part in every step's barrier, with or without units of its own; a
      // step before the longest sequence's end always has a row running.
      for (int64_t i = 0; i < steps; ++i) {
        load_units(rc, d, i, xd, gates.data(), j0, j1);
        if (j1 > j0) zigzag_step_products(i, rc, j0, j1, rd, current, gates.data());
        for (int64_t b = 0; b < B; ++b) {
          const int64_t t = rc.time_at(d, b, i);
          if (t < 0) {  // this row's sequence ended: its state stays
            std::copy(current + b * H + j0, current + b * H + j1, next + b * H + j0);
            continue;
          }
          cell.update(d, &gates[b * W], &c[(d * B + b) * H], next + b * H, j0, j1);
          std::copy(next + b * H + j0, next + b * H + j1, out.y_at(t, d, b) + j0);
        }
#pragma omp barrier
        std::swap(current, next);
      }
      // The final state of this thread's units, where an odd number of steps left it.
      float* final_h = &h[d * B * H];
      if (current != final_h)
        for (int64_t b = 0; b < B; ++b)
          std::copy(current + b * H + j0, current + b * H + j1, final_h + b * H + j0);
    }
  }
  ctx.set_output(0, out.y);
  ctx.set_output(1, out.state(h, type));
  ctx.set_output(2, out.state(c, type));
}

template <typename T>
void lstm(OpContext& ctx) {
  const auto rc = read_recurrence<T>(ctx, 4, {"Sigmoid", "Tanh", "Tanh"});
  const int64_t W = rc.width();
  if constexpr (std::is_same_v<T, float>)
    if (split_steps_pay(rc)) return lstm_cells_split(ctx, rc, summed_biases(rc, W));
  const auto xw = input_contributions(rc, summed_biases(rc, W));
  const StepWeights<T> weights = step_weights(ctx, rc);
  lstm_cells(ctx, rc, xw, [&](int64_t d, const T* hd, T* gates) {
    weights.add(d, 0, W, rc.batch, hd, gates, W);
  });
}

// com.microsoft::DynamicQuantizeLSTM, as ONNX Runtime's quantization tool writes it: an LSTM
// whose W ([dirs, input, 4 * hidden], transposed against LSTM's) and R ([dirs, hidden,
// 4 * hidden]) are uint8 or int8 with a scale and zero point per direction (or per direction and
// column), inputs 8 to 11. ONNX Runtime multiplies them with dynamically quantized operands:
// the whole input sequence quantized once as DynamicQuantizeLinear does, and the batch's hidden
// state once per step; so does this kernel, so that results agree with it: codes and weights
// less their zero points (int16, each gate column's weights contiguous, the layout
// accumulate_dot_products_i16 reads), their products summed exactly in int32, scaled per column.
struct QuantizedRecurrentWeights {
  std::vector<int16_t> centred;  // [dirs][4 * hidden][rows]: q - zero point
  std::vector<float> scale;      // [dirs][4 * hidden]
};

// Input w_in's weights with their scale and zero point (inputs scale_in, scale_in + 1).
QuantizedRecurrentWeights centred_weights(const OpContext& ctx, std::size_t w_in,
                                          std::size_t scale_in, int64_t dirs, int64_t rows,
                                          int64_t width) {
  const Tensor& w = ctx.input(w_in);
  const Tensor& s = ctx.input(scale_in);
  const Tensor* z = ctx.optional_input(scale_in + 1);
  ctx.check(w.shape() == Shape{dirs, rows, width}, "input {} has shape {}, expected [{},{},{}]",
            w_in, to_string(w.shape()), dirs, rows, width);
  ctx.check(w.element_type() == ElementType::u8 || w.element_type() == ElementType::i8,
            "input {} must be uint8 or int8, got {}", w_in, to_string(w.element_type()));
  const bool per_column = s.element_count() == dirs * width;
  ctx.check(per_column || s.element_count() == dirs, "scale {} has {} values for {} directions",
            scale_in, s.element_count(), dirs);
  ctx.check(!z || z->element_count() == s.element_count(),
            "zero point {} has {} values, its scale {}", scale_in + 1, z ? z->element_count() : 0,
            s.element_count());
  const Tensor sf = convert_tensor(ctx, s, ElementType::f32);
  QuantizedRecurrentWeights q;
  q.centred.resize(static_cast<std::size_t>(dirs * rows * width));
  q.scale.resize(static_cast<std::size_t>(dirs * width));
  for (int64_t d = 0; d < dirs; ++d) {
    for (int64_t j = 0; j < width; ++j) {
      const int64_t k = per_column ? d * width + j : d;
      q.scale[d * width + j] = sf.data_as<float>()[k];
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < width; ++j) {
        const int64_t k = per_column ? d * width + j : d;
        const int64_t at = (d * rows + r) * width + j;
        const int zero = !z                                     ? 0
                         : z->element_type() == ElementType::u8 ? z->data_as<uint8_t>()[k]
                                                                : z->data_as<int8_t>()[k];
        const int v = w.element_type() == ElementType::u8 ? w.data_as<uint8_t>()[at]
                                                          : w.data_as<int8_t>()[at];
        q.centred[(d * width + j) * rows + r] = static_cast<int16_t>(v - zero);
      }
    }
  }
  return q;
}

// a [m][k] quantized as DynamicQuantizeLinear does and centred (q - zero point); returns the
// scale.
float quantize_centred(const float* a, int64_t count, std::vector<int16_t>& out) {
  const DynamicQuantParams p = dynamic_quant_params(a, count);
  std::vector<uint8_t> q(static_cast<std::size_t>(count));
  dynamic_quantize(a, count, p, q.data());
  out.resize(static_cast<std::size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int16_t>(q[i] - p.zero_point);
  return p.scale;
}

void dynamic_quantize_lstm(OpContext& ctx) {
  const Tensor& X = ctx.input(0);
  ctx.check(X.element_type() == ElementType::f32 && X.rank() == 3,
            "X must be f32 [seq, batch, "
            "input], got {} {}",
            to_string(X.element_type()), to_string(X.shape()));
  Recurrence<float> rc;
  rc.gates = 4;
  rc.seq = X.shape()[0];
  rc.batch = X.shape()[1];
  rc.input = X.shape()[2];
  rc.hidden = ctx.attr_i("hidden_size", ctx.input(2).rank() == 3 ? ctx.input(2).shape()[1] : 0);
  const std::string direction = ctx.attr_s("direction", "forward");
  ctx.check(direction == "forward" || direction == "reverse" || direction == "bidirectional",
            "direction '{}' is not forward, reverse or bidirectional", direction);
  rc.dirs = direction == "bidirectional" ? 2 : 1;
  rc.all_reverse = direction == "reverse";
  rc.x = X.data_as<float>();
  const int64_t H = rc.hidden, W = rc.width(), rows = rc.seq * rc.batch;
  rc.bias.assign(rc.dirs * 2 * W, 0.f);
  if (const Tensor* B = ctx.optional_input(3)) {
    ctx.check(B->element_type() == ElementType::f32 &&
                  B->element_count() == static_cast<int64_t>(rc.bias.size()),
              "B has shape {}, expected f32 [{},{}]", to_string(B->shape()), rc.dirs, 2 * W);
    std::copy_n(B->data_as<float>(), rc.bias.size(), rc.bias.begin());
  }
  rc.lengths.assign(rc.batch, rc.seq);
  if (const Tensor* L = ctx.optional_input(4)) {
    rc.lengths = to_int64_vector(ctx, *L);
    ctx.check(static_cast<int64_t>(rc.lengths.size()) == rc.batch,
              "sequence_lens has {} entries for a batch of {}", rc.lengths.size(), rc.batch);
    for (int64_t len : rc.lengths)
      ctx.check(len >= 0 && len <= rc.seq, "sequence length {} outside [0, {}]", len, rc.seq);
  }
  rc.clip = ctx.attr_f("clip", 0.0f);
  const std::vector<std::string> defaults = {"Sigmoid", "Tanh", "Tanh"};
  std::vector<std::string> names;
  if (ctx.has_attr("activations")) {
    names = ctx.attr("activations").strings;
  } else {
    for (int64_t d = 0; d < rc.dirs; ++d)
      names.insert(names.end(), defaults.begin(), defaults.end());
  }
  rc.per_dir = defaults.size();
  ctx.check(names.size() == rc.per_dir * rc.dirs, "expected {} activations, got {}",
            rc.per_dir * rc.dirs, names.size());
  const auto alphas = ctx.attr_floats("activation_alpha");
  const auto betas = ctx.attr_floats("activation_beta");
  size_t ia = 0, ib = 0;
  for (const auto& n : names)
    rc.activations.push_back(make_activation(ctx, n, alphas, betas, ia, ib));

  // The weights as centred floats, made once when they are graph constants.
  auto weights = [&](std::size_t in, std::size_t scale_in, int64_t k) {
    auto make = [&] {
      return std::make_shared<const QuantizedRecurrentWeights>(
          centred_weights(ctx, in, scale_in, rc.dirs, k, W));
    };
    return ctx.input_is_constant(in) && ctx.input_is_constant(scale_in) && ctx.cache()
               ? ctx.cache()->get_or_make<QuantizedRecurrentWeights>(
                     "centred " + std::to_string(in), make)
               : make();
  };
  const auto wq = weights(1, 8, rc.input), rq = weights(2, 10, H);
  // Input contributions: the whole sequence quantized once, times W, scaled per column, biases.
  std::vector<int16_t> xc;
  const float x_scale = quantize_centred(rc.x, rows * rc.input, xc);
  const std::vector<float> bias = summed_biases(rc, W);
  std::vector<float> xw(static_cast<std::size_t>(rc.dirs * rows * W), 0.f);
  for_each_direction(rc.dirs, [&](int64_t d) {
    float* out = &xw[d * rows * W];
    vec::accumulate_dot_products_i16(rows, W, rc.input, xc.data(), rc.input,
                                     &wq->centred[d * W * rc.input], rc.input, out, W);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < W; ++j)
        out[r * W + j] = out[r * W + j] * (x_scale * wq->scale[d * W + j]) + bias[d * W + j];
  });
  // Per step: the batch's hidden state quantized, times R, scaled per column.
  lstm_cells(ctx, rc, xw, [&](int64_t d, const float* hd, float* gates) {
    std::vector<int16_t> hc;
    std::vector<float> product(static_cast<std::size_t>(rc.batch * W), 0.f);
    const float h_scale = quantize_centred(hd, rc.batch * H, hc);
    vec::accumulate_dot_products_i16(rc.batch, W, H, hc.data(), H, &rq->centred[d * W * H], H,
                                     product.data(), W);
    for (int64_t b = 0; b < rc.batch; ++b)
      for (int64_t j = 0; j < W; ++j)
        gates[b * W + j] += product[b * W + j] * (h_scale * rq->scale[d * W + j]);
  });
}

// f32 and f64 run in their own type; f16 and bf16 are widened to f32 and rounded back.
template <template <typename> class Op>
void run_recurrent(OpContext& ctx) {
  switch (ctx.input(0).element_type()) {
    case ElementType::f32:
      return Op<float>::run(ctx);
    case ElementType::f64:
      return Op<double>::run(ctx);
    case ElementType::f16:
    case ElementType::bf16:
      return run_widened(ctx, &Op<float>::run);
    default:
      unsupported_type(ctx, ctx.input(0).element_type());
  }
}

template <typename T>
struct RnnOp {
  static void run(OpContext& ctx) { rnn<T>(ctx); }
};
template <typename T>
struct GruOp {
  static void run(OpContext& ctx) { gru<T>(ctx); }
};
template <typename T>
struct LstmOp {
  static void run(OpContext& ctx) { lstm<T>(ctx); }
};

}  // namespace

void register_rnn_ops(KernelRegistry& r) {
  r.add("RNN", run_recurrent<RnnOp>);
  r.add("GRU", run_recurrent<GruOp>);
  r.add("LSTM", run_recurrent<LstmOp>);
  r.add("DynamicQuantizeLSTM", dynamic_quantize_lstm, "com.microsoft");
}

}  // namespace sinter::cpu
