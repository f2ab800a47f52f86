// Recurrent layers: RNN, GRU and LSTM (ONNX opset 7/14 semantics, both layouts, all directions,
// sequence_lens, clip, custom activations, LSTM peepholes and input_forget).
#include <cmath>
#include <functional>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

using Activation = std::function<double(double)>;

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
  if (name == "Sigmoid") return [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  if (name == "Tanh") return [](double x) { return std::tanh(x); };
  if (name == "Relu") return [](double x) { return x > 0 ? x : 0.0; };
  if (name == "Softsign") return [](double x) { return x / (1.0 + std::fabs(x)); };
  if (name == "Softplus") return [](double x) { return std::log1p(std::exp(x)); };
  if (name == "LeakyRelu") {
    const double a = alpha(0.01);
    return [a](double x) { return x >= 0 ? x : a * x; };
  }
  if (name == "ThresholdedRelu") {
    const double a = alpha(1.0);
    return [a](double x) { return x > a ? x : 0.0; };
  }
  if (name == "Elu") {
    const double a = alpha(1.0);
    return [a](double x) { return x >= 0 ? x : a * (std::exp(x) - 1.0); };
  }
  if (name == "Affine") {
    const double a = alpha(1.0), b = beta(0.0);
    return [a, b](double x) { return a * x + b; };
  }
  if (name == "ScaledTanh") {
    const double a = alpha(1.0), b = beta(1.0);
    return [a, b](double x) { return a * std::tanh(b * x); };
  }
  if (name == "HardSigmoid") {
    const double a = alpha(0.2), b = beta(0.5);
    return [a, b](double x) { return std::max(0.0, std::min(1.0, a * x + b)); };
  }
  ctx.fail(ErrorCategory::unsupported_op, "activation '{}' is not supported", name);
}

// What RNN, GRU and LSTM share: shapes, layout, directions, biases, initial states.
struct Recurrence {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1, gates = 1;
  bool batch_first = false;             // layout = 1
  double clip = 0;                      // 0: no clipping
  std::vector<double> x, w, r, bias;    // bias: [dirs, 2 * gates * hidden], zeros when absent
  std::vector<int64_t> lengths;         // per batch row
  std::vector<Activation> activations;  // per direction: `per_dir` functions each
  size_t per_dir = 0;

  double x_at(int64_t t, int64_t b, int64_t k) const {
    return batch_first ? x[(b * seq + t) * input + k] : x[(t * batch + b) * input + k];
  }
  double clipped(double v) const { return clip > 0 ? std::max(-clip, std::min(clip, v)) : v; }
  // Input and recurrent contributions to gate row `row` (= gate * hidden + j) of direction d.
  double input_part(int64_t d, int64_t row, int64_t t, int64_t b) const {
    const double* wr = &w[(d * gates * hidden + row) * input];
    double s = bias[d * 2 * gates * hidden + row];
    for (int64_t k = 0; k < input; ++k) s += x_at(t, b, k) * wr[k];
    return s;
  }
  double recurrent_part(int64_t d, int64_t row, const double* h) const {
    const double* rr = &r[(d * gates * hidden + row) * hidden];
    double s = bias[d * 2 * gates * hidden + gates * hidden + row];
    for (int64_t k = 0; k < hidden; ++k) s += h[k] * rr[k];
    return s;
  }
  const Activation& act(int64_t d, size_t i) const { return activations[d * per_dir + i]; }
};

Recurrence read_recurrence(const OpContext& ctx, int64_t gates,
                           const std::vector<std::string>& default_acts) {
  Recurrence rc;
  rc.gates = gates;
  const Tensor& X = ctx.input(0);
  const Tensor& W = ctx.input(1);
  const Tensor& R = ctx.input(2);
  ctx.check(X.rank() == 3 && W.rank() == 3 && R.rank() == 3,
            "X, W and R must have rank 3, got {}, {}, {}", to_string(X.shape()),
            to_string(W.shape()), to_string(R.shape()));
  rc.batch_first = ctx.attr_i("layout", 0) == 1;
  rc.seq = X.shape()[rc.batch_first ? 1 : 0];
  rc.batch = X.shape()[rc.batch_first ? 0 : 1];
  rc.input = X.shape()[2];
  rc.hidden = ctx.attr_i("hidden_size", R.shape()[2]);
  const std::string direction = ctx.attr_s("direction", "forward");
  ctx.check(direction == "forward" || direction == "reverse" || direction == "bidirectional",
            "direction '{}' is not forward, reverse or bidirectional", direction);
  rc.dirs = direction == "bidirectional" ? 2 : 1;
  ctx.check(W.shape() == Shape{rc.dirs, gates * rc.hidden, rc.input},
            "W has shape {}, expected [{},{},{}]", to_string(W.shape()), rc.dirs, gates * rc.hidden,
            rc.input);
  ctx.check(R.shape() == Shape{rc.dirs, gates * rc.hidden, rc.hidden},
            "R has shape {}, expected [{},{},{}]", to_string(R.shape()), rc.dirs, gates * rc.hidden,
            rc.hidden);
  rc.x = to_double_vector(ctx, X);
  rc.w = to_double_vector(ctx, W);
  rc.r = to_double_vector(ctx, R);
  rc.bias.assign(rc.dirs * 2 * gates * rc.hidden, 0.0);
  if (const Tensor* B = ctx.optional_input(3)) {
    ctx.check(B->element_count() == static_cast<int64_t>(rc.bias.size()),
              "B has shape {}, expected [{},{}]", to_string(B->shape()), rc.dirs,
              2 * gates * rc.hidden);
    rc.bias = to_double_vector(ctx, *B);
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
std::vector<double> initial_state(const OpContext& ctx, const Recurrence& rc, size_t index) {
  std::vector<double> s(rc.dirs * rc.batch * rc.hidden, 0.0);
  const Tensor* t = ctx.optional_input(index);
  if (!t) return s;
  ctx.check(t->element_count() == static_cast<int64_t>(s.size()),
            "initial state has shape {}, expected {} elements", to_string(t->shape()), s.size());
  const auto v = to_double_vector(ctx, *t);
  for (int64_t d = 0; d < rc.dirs; ++d)
    for (int64_t b = 0; b < rc.batch; ++b)
      for (int64_t j = 0; j < rc.hidden; ++j)
        s[(d * rc.batch + b) * rc.hidden + j] = rc.batch_first
                                                    ? v[(b * rc.dirs + d) * rc.hidden + j]
                                                    : v[(d * rc.batch + b) * rc.hidden + j];
  return s;
}

// Output tensors in the requested layout, written through `y_at` / `state_at`.
struct RecurrentOutputs {
  const Recurrence& rc;
  std::vector<double> y;  // [seq, dirs, batch, hidden] or [batch, seq, dirs, hidden]
  explicit RecurrentOutputs(const Recurrence& r)
      : rc(r), y(r.seq * r.dirs * r.batch * r.hidden, 0.0) {}
  double* y_at(int64_t t, int64_t d, int64_t b) {
    const int64_t i =
        rc.batch_first ? ((b * rc.seq + t) * rc.dirs + d) : ((t * rc.dirs + d) * rc.batch + b);
    return &y[i * rc.hidden];
  }
  Tensor y_tensor(const OpContext& ctx, ElementType type) const {
    Shape shape = rc.batch_first ? Shape{rc.batch, rc.seq, rc.dirs, rc.hidden}
                                 : Shape{rc.seq, rc.dirs, rc.batch, rc.hidden};
    return tensor_from_doubles(ctx, y, shape, type);
  }
  // A final state [dirs][batch][hidden] in the layout's order.
  Tensor state_tensor(const OpContext& ctx, const std::vector<double>& s, ElementType type) const {
    if (!rc.batch_first) return tensor_from_doubles(ctx, s, {rc.dirs, rc.batch, rc.hidden}, type);
    std::vector<double> v(s.size());
    for (int64_t d = 0; d < rc.dirs; ++d)
      for (int64_t b = 0; b < rc.batch; ++b)
        for (int64_t j = 0; j < rc.hidden; ++j)
          v[(b * rc.dirs + d) * rc.hidden + j] = s[(d * rc.batch + b) * rc.hidden + j];
    return tensor_from_doubles(ctx, v, {rc.batch, rc.dirs, rc.hidden}, type);
  }
};

bool reverse_only(const OpContext& ctx) {
  return ctx.attr_s("direction", "forward") == "reverse";
}

// Runs `step(d, b, t, h, c)` over every direction, batch row and valid time step in processing
// order; `h` (and `c`) hold the state of (d, b) and are updated in place by the step. Direction d
// runs backwards in time when d == 1, or when the whole op is "reverse".
template <typename Step>
void run_directions(const OpContext& ctx, const Recurrence& rc, std::vector<double>& h,
                    std::vector<double>& c, RecurrentOutputs& out, Step&& step) {
  const bool all_reverse = reverse_only(ctx);
  for (int64_t d = 0; d < rc.dirs; ++d) {
    const bool reverse = all_reverse || d == 1;
    for (int64_t b = 0; b < rc.batch; ++b) {
      double* hs = &h[(d * rc.batch + b) * rc.hidden];
      double* cs = c.empty() ? nullptr : &c[(d * rc.batch + b) * rc.hidden];
      const int64_t len = rc.lengths[b];
      for (int64_t i = 0; i < len; ++i) {
        const int64_t t = reverse ? len - 1 - i : i;
        step(d, b, t, hs, cs);
        std::copy(hs, hs + rc.hidden, out.y_at(t, d, b));
      }
    }
  }
}

void op_rnn(OpContext& ctx) {
  const Recurrence rc = read_recurrence(ctx, 1, {"Tanh"});
  std::vector<double> h = initial_state(ctx, rc, 5), c;
  RecurrentOutputs out(rc);
  std::vector<double> next(rc.hidden);
  run_directions(ctx, rc, h, c, out, [&](int64_t d, int64_t b, int64_t t, double* hs, double*) {
    for (int64_t j = 0; j < rc.hidden; ++j)
      next[j] = rc.act(d, 0)(rc.clipped(rc.input_part(d, j, t, b) + rc.recurrent_part(d, j, hs)));
    std::copy(next.begin(), next.end(), hs);
  });
  const ElementType type = ctx.input(0).element_type();
  ctx.set_output(0, out.y_tensor(ctx, type));
  ctx.set_output(1, out.state_tensor(ctx, h, type));
}

void op_gru(OpContext& ctx) {
  const Recurrence rc = read_recurrence(ctx, 3, {"Sigmoid", "Tanh"});
  const bool linear_before_reset = ctx.attr_i("linear_before_reset", 0) != 0;
  std::vector<double> h = initial_state(ctx, rc, 5), c;
  RecurrentOutputs out(rc);
  const int64_t H = rc.hidden;
  std::vector<double> z(H), r(H), reset_h(H), next(H);
  run_directions(ctx, rc, h, c, out, [&](int64_t d, int64_t b, int64_t t, double* hs, double*) {
    // Gate order in W, R and B: update (z), reset (r), hidden (h).
    for (int64_t j = 0; j < H; ++j) {
      z[j] = rc.act(d, 0)(rc.clipped(rc.input_part(d, j, t, b) + rc.recurrent_part(d, j, hs)));
      r[j] =
          rc.act(d, 0)(rc.clipped(rc.input_part(d, H + j, t, b) + rc.recurrent_part(d, H + j, hs)));
      reset_h[j] = r[j] * hs[j];
    }
    for (int64_t j = 0; j < H; ++j) {
      const double rec = linear_before_reset ? r[j] * rc.recurrent_part(d, 2 * H + j, hs)
                                             : rc.recurrent_part(d, 2 * H + j, reset_h.data());
      const double candidate = rc.act(d, 1)(rc.clipped(rc.input_part(d, 2 * H + j, t, b) + rec));
      next[j] = (1.0 - z[j]) * candidate + z[j] * hs[j];
    }
    std::copy(next.begin(), next.end(), hs);
  });
  const ElementType type = ctx.input(0).element_type();
  ctx.set_output(0, out.y_tensor(ctx, type));
  ctx.set_output(1, out.state_tensor(ctx, h, type));
}

void op_lstm(OpContext& ctx) {
  const Recurrence rc = read_recurrence(ctx, 4, {"Sigmoid", "Tanh", "Tanh"});
  const bool input_forget = ctx.attr_i("input_forget", 0) != 0;
  const int64_t H = rc.hidden;
  std::vector<double> h = initial_state(ctx, rc, 5), c = initial_state(ctx, rc, 6);
  std::vector<double> peep(rc.dirs * 3 * H, 0.0);  // [dirs][i, o, f][hidden]
  if (const Tensor* P = ctx.optional_input(7)) {
    ctx.check(P->element_count() == static_cast<int64_t>(peep.size()),
              "P has shape {}, expected [{},{}]", to_string(P->shape()), rc.dirs, 3 * H);
    peep = to_double_vector(ctx, *P);
  }
  RecurrentOutputs out(rc);
  std::vector<double> gi(H), go(H), gf(H), gc(H);
  run_directions(ctx, rc, h, c, out, [&](int64_t d, int64_t b, int64_t t, double* hs, double* cs) {
    const double* p = &peep[d * 3 * H];
    // Gate order in W, R and B: input (i), output (o), forget (f), cell (c).
    auto pre = [&](int64_t gate, int64_t j) {
      return rc.input_part(d, gate * H + j, t, b) + rc.recurrent_part(d, gate * H + j, hs);
    };
    for (int64_t j = 0; j < H; ++j) {
      gi[j] = rc.act(d, 0)(rc.clipped(pre(0, j) + p[j] * cs[j]));
      gf[j] =
          input_forget ? 1.0 - gi[j] : rc.act(d, 0)(rc.clipped(pre(2, j) + p[2 * H + j] * cs[j]));
      gc[j] = rc.act(d, 1)(rc.clipped(pre(3, j)));
      go[j] = pre(1, j);
    }
    for (int64_t j = 0; j < H; ++j) {
      cs[j] = gf[j] * cs[j] + gi[j] * gc[j];
      const double o = rc.act(d, 0)(rc.clipped(go[j] + p[H + j] * cs[j]));
      hs[j] = o * rc.act(d, 2)(cs[j]);
    }
  });
  const ElementType type = ctx.input(0).element_type();
  ctx.set_output(0, out.y_tensor(ctx, type));
  ctx.set_output(1, out.state_tensor(ctx, h, type));
  ctx.set_output(2, out.state_tensor(ctx, c, type));
}

}  // namespace

void register_rnn_ops(KernelRegistry& r) {
  r.add("RNN", op_rnn);
  r.add("GRU", op_gru);
  r.add("LSTM", op_lstm);
}

}  // namespace sinter::cpu
