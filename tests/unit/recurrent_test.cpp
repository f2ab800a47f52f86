// The CPU's RNN, GRU and LSTM against the ONNX spec's equations evaluated here step by step in
// double, on the combinations the ONNX suite and the zoo leave out (bidirectional GRU in both
// reset modes with per-row lengths, batch-first layout, input_forget, parameterised activations,
// clipping, f64); and the vectorised float helpers (theirs and the attention kernel's softmax)
// against the C library and the formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>

#include "devices/cpu/cpu_device.hpp"
#include "devices/cpu/ops/vector_math.hpp"

using namespace sinter;

namespace {

struct Case {
  std::string op;  // RNN, GRU or LSTM
  std::string direction = "forward";
  bool batch_first = false;
  bool linear_before_reset = false;
  bool input_forget = false;
  float clip = 0;
  std::vector<std::string> activations;  // empty: the op's defaults
  std::vector<float> alphas, betas;
  std::vector<int32_t> lengths;  // empty: no sequence_lens input
  ElementType type = ElementType::f32;
  bool constant_weights = false;  // W, R, B as graph constants (prepared once), run twice
  int threads = 0;                // the CPU device's threads; 0: its default
  int64_t seq = 5, batch = 3, input = 4, hidden = 6;

  int64_t gates() const { return op == "LSTM" ? 4 : op == "GRU" ? 3 : 1; }
  int64_t dirs() const { return direction == "bidirectional" ? 2 : 1; }
};

// Deterministic values in [-scale, scale].
std::vector<double> values(int64_t n, double seed, double scale) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = scale * std::sin(seed + 0.731 * double(i));
  return v;
}

Tensor tensor_of(ElementType type, Shape shape, const std::vector<double>& v) {
  Tensor t(type, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) {
    if (type == ElementType::f64)
      t.data_as<double>()[i] = v[i];
    else
      t.data_as<float>()[i] = static_cast<float>(v[i]);
  }
  return t;
}

std::vector<double> doubles_of(const Tensor& t) {
  std::vector<double> v(t.element_count());
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = t.element_type() == ElementType::f64 ? t.data_as<double>()[i] : t.data_as<float>()[i];
  return v;
}

using Fn = std::function<double(double)>;

// The spec's activation list: parameters consumed in order by the functions that take them.
std::vector<Fn> activation_functions(const Case& c, const std::vector<std::string>& names) {
  std::vector<Fn> fns;
  size_t ia = 0, ib = 0;
  for (const auto& n : names) {
    if (n == "Sigmoid") fns.push_back([](double x) { return 1 / (1 + std::exp(-x)); });
    if (n == "Tanh") fns.push_back([](double x) { return std::tanh(x); });
    if (n == "Relu") fns.push_back([](double x) { return std::max(x, 0.0); });
    if (n == "Softsign") fns.push_back([](double x) { return x / (1 + std::fabs(x)); });
    if (n == "LeakyRelu") {
      const double a = c.alphas.at(ia++);
      fns.push_back([a](double x) { return x >= 0 ? x : a * x; });
    }
    if (n == "HardSigmoid") {
      const double a = c.alphas.at(ia++), b = c.betas.at(ib++);
      fns.push_back([a, b](double x) { return std::clamp(a * x + b, 0.0, 1.0); });
    }
  }
  return fns;
}

struct Inputs {
  std::vector<double> x, w, r, bias, h0, c0, peep;
};

struct Outputs {
  std::vector<double> y, h, c;  // in the case's layout
};

// The spec's equations for one case, every (direction, row, step) on its own.
Outputs reference(const Case& c, const Inputs& in) {
  const int64_t D = c.dirs(), B = c.batch, S = c.seq, I = c.input, H = c.hidden, G = c.gates();
  std::vector<std::string> names = c.activations;
  if (names.empty()) {
    const std::vector<std::string> defaults =
        c.op == "LSTM"  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
        : c.op == "GRU" ? std::vector<std::string>{"Sigmoid", "Tanh"}
                        : std::vector<std::string>{"Tanh"};
    for (int64_t d = 0; d < D; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  }
  const auto fns = activation_functions(c, names);
  const size_t per_dir = fns.size() / D;
  auto clip = [&](double v) {
    return c.clip > 0 ? std::clamp(v, -double(c.clip), double(c.clip)) : v;
  };
  auto x_at = [&](int64_t t, int64_t b, int64_t k) {
    return in.x[(c.batch_first ? b * S + t : t * B + b) * I + k];
  };
  auto state_index = [&](int64_t d, int64_t b) { return c.batch_first ? b * D + d : d * B + b; };
  Outputs out;
  out.y.assign(S * D * B * H, 0.0);
  out.h.assign(D * B * H, 0.0);
  out.c.assign(D * B * H, 0.0);
  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = c.direction == "reverse" || d == 1;
    auto f = [&](size_t i) { return fns[d * per_dir + i]; };
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> h(H), cell(H);
      for (int64_t j = 0; j < H; ++j) {
        h[j] = in.h0[state_index(d, b) * H + j];
        cell[j] = in.c0.empty() ? 0 : in.c0[state_index(d, b) * H + j];
      }
      const int64_t len = c.lengths.empty() ? S : c.lengths[b];
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = reverse ? len - 1 - step : step;
        // Wx + Wb (with_input) and Rh' + Rb for gate g, row j, h' a given state.
        auto wx = [&](int64_t g, int64_t j) {
          double s = in.bias[d * 2 * G * H + g * H + j];
          for (int64_t k = 0; k < I; ++k) s += x_at(t, b, k) * in.w[((d * G + g) * H + j) * I + k];
          return s;
        };
        auto rh = [&](int64_t g, int64_t j, const std::vector<double>& state) {
          double s = in.bias[d * 2 * G * H + G * H + g * H + j];
          for (int64_t k = 0; k < H; ++k) s += state[k] * in.r[((d * G + g) * H + j) * H + k];
          return s;
        };
        std::vector<double> next(H), next_cell = cell;
        if (c.op == "RNN") {
          for (int64_t j = 0; j < H; ++j) next[j] = f(0)(clip(wx(0, j) + rh(0, j, h)));
        } else if (c.op == "GRU") {
          std::vector<double> z(H), r(H), rh_state(H);
          for (int64_t j = 0; j < H; ++j) {
            z[j] = f(0)(clip(wx(0, j) + rh(0, j, h)));
            r[j] = f(0)(clip(wx(1, j) + rh(1, j, h)));
            rh_state[j] = r[j] * h[j];
          }
          for (int64_t j = 0; j < H; ++j) {
            const double pre = c.linear_before_reset ? wx(2, j) + r[j] * rh(2, j, h)
                                                     : wx(2, j) + rh(2, j, rh_state);
            next[j] = (1 - z[j]) * f(1)(clip(pre)) + z[j] * h[j];
          }
        } else {
          for (int64_t j = 0; j < H; ++j) {
            const double* p = &in.peep[d * 3 * H];
            const double i_gate = f(0)(clip(wx(0, j) + rh(0, j, h) + p[j] * cell[j]));
            const double f_gate = c.input_forget
                                      ? 1 - i_gate
                                      : f(0)(clip(wx(2, j) + rh(2, j, h) + p[2 * H + j] * cell[j]));
            const double c_gate = f(1)(clip(wx(3, j) + rh(3, j, h)));
            next_cell[j] = f_gate * cell[j] + i_gate * c_gate;
            const double o_gate = f(0)(clip(wx(1, j) + rh(1, j, h) + p[H + j] * next_cell[j]));
            next[j] = o_gate * f(2)(next_cell[j]);
          }
        }
        h = next;
        cell = next_cell;
        for (int64_t j = 0; j < H; ++j)
          out.y[(c.batch_first ? (b * S + t) * D + d : (t * D + d) * B + b) * H + j] = h[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        out.h[state_index(d, b) * H + j] = h[j];
        out.c[state_index(d, b) * H + j] = cell[j];
      }
    }
  }
  return out;
}

Shape dims(std::initializer_list<int64_t> d) {
  return Shape(d);
}

// Runs the case on the CPU device and compares every output with the reference.
void check_case(const Case& c) {
  const int64_t D = c.dirs(), B = c.batch, S = c.seq, I = c.input, H = c.hidden, G = c.gates();
  Inputs in;
  in.x = values(S * B * I, 0.1, 1.0);
  in.w = values(D * G * H * I, 0.7, 0.5);
  in.r = values(D * G * H * H, 1.3, 0.4);
  in.bias = values(D * 2 * G * H, 2.1, 0.3);
  in.h0 = values(D * B * H, 2.9, 0.6);
  if (c.op == "LSTM") {
    in.c0 = values(D * B * H, 3.7, 0.8);
    in.peep = values(D * 3 * H, 4.3, 0.5);
  }
  const Shape x_shape = c.batch_first ? dims({B, S, I}) : dims({S, B, I});
  const Shape state_shape = c.batch_first ? dims({B, D, H}) : dims({D, B, H});
  std::map<std::string, Value> feeds = {{"X", tensor_of(c.type, x_shape, in.x)},
                                        {"W", tensor_of(c.type, {D, G * H, I}, in.w)},
                                        {"R", tensor_of(c.type, {D, G * H, H}, in.r)},
                                        {"B", tensor_of(c.type, {D, 2 * G * H}, in.bias)},
                                        {"initial_h", tensor_of(c.type, state_shape, in.h0)}};
  std::vector<std::string> inputs = {"X", "W", "R", "B", "", "initial_h"};
  if (!c.lengths.empty()) {
    Tensor lengths(ElementType::i32, {B});
    std::copy(c.lengths.begin(), c.lengths.end(), lengths.data_as<int32_t>());
    feeds["lengths"] = lengths;
    inputs[4] = "lengths";
  }
  std::vector<std::string> outputs = {"Y", "Y_h"};
  if (c.op == "LSTM") {
    feeds["initial_c"] = tensor_of(c.type, state_shape, in.c0);
    feeds["P"] = tensor_of(c.type, {D, 3 * H}, in.peep);
    inputs.push_back("initial_c");
    inputs.push_back("P");
    outputs.push_back("Y_c");
  }
  ir::Graph g;
  g.opsets[""] = 14;
  if (c.constant_weights) {
    for (const char* name : {"W", "R", "B"}) {
      g.constants[name] = feeds.at(name).tensor();
      feeds.erase(name);
    }
  }
  for (const auto& [name, value] : feeds) {
    std::vector<Dimension> shape;
    for (int64_t n : value.tensor().shape()) shape.push_back({n, ""});
    g.inputs.push_back(
        {name, PortInfo::Kind::tensor, value.tensor().element_type(), true, std::move(shape)});
  }
  ir::Node& n = g.add_node(c.op, inputs, outputs);
  auto set_int = [&](const char* name, int64_t v) {
    n.attributes[name].kind = ir::Attribute::Kind::i;
    n.attributes[name].i = v;
  };
  set_int("hidden_size", H);
  set_int("layout", c.batch_first ? 1 : 0);
  n.attributes["direction"].kind = ir::Attribute::Kind::s;
  n.attributes["direction"].s = c.direction;
  if (c.op == "GRU") set_int("linear_before_reset", c.linear_before_reset ? 1 : 0);
  if (c.op == "LSTM") set_int("input_forget", c.input_forget ? 1 : 0);
  if (c.clip > 0) {
    n.attributes["clip"].kind = ir::Attribute::Kind::f;
    n.attributes["clip"].f = c.clip;
  }
  if (!c.activations.empty()) {
    n.attributes["activations"].kind = ir::Attribute::Kind::strings;
    n.attributes["activations"].strings = c.activations;
  }
  if (!c.alphas.empty()) {
    n.attributes["activation_alpha"].kind = ir::Attribute::Kind::floats;
    n.attributes["activation_alpha"].floats = c.alphas;
  }
  if (!c.betas.empty()) {
    n.attributes["activation_beta"].kind = ir::Attribute::Kind::floats;
    n.attributes["activation_beta"].floats = c.betas;
  }
  for (const auto& o : outputs) g.outputs.push_back({o, PortInfo::Kind::tensor, c.type, false, {}});
  ir::validate(g);
  device::CompileOptions options;
  options.threads = c.threads;
  const auto compiled = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), options);
  compiled->run(feeds);
  if (c.constant_weights) compiled->run(feeds);  // with the weights prepared on the first run

  const Outputs want = reference(c, in);
  const double tolerance = c.type == ElementType::f64 ? 1e-12 : 2e-5;
  auto compare = [&](const char* name, const std::vector<double>& expected) {
    const auto got = doubles_of(feeds.at(name).tensor());
    ASSERT_EQ(got.size(), expected.size()) << name;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], expected[i], tolerance * (1 + std::fabs(expected[i])))
          << c.op << " " << c.direction << " " << name << "[" << i << "]";
  };
  compare("Y", want.y);
  compare("Y_h", want.h);
  if (c.op == "LSTM") compare("Y_c", want.c);
}

}  // namespace

TEST(Recurrent, BidirectionalGruWithLengthsBatchFirstClipped) {
  Case c;
  c.op = "GRU";
  c.direction = "bidirectional";
  c.batch_first = true;
  c.clip = 0.8f;
  c.lengths = {5, 2, 1};
  check_case(c);
}

TEST(Recurrent, BidirectionalGruLinearBeforeResetWithLengths) {
  Case c;
  c.op = "GRU";
  c.direction = "bidirectional";
  c.linear_before_reset = true;
  c.lengths = {3, 5, 1};
  check_case(c);
}

TEST(Recurrent, ReverseLstmInputForgetCustomActivations) {
  Case c;
  c.op = "LSTM";
  c.direction = "reverse";
  c.batch_first = true;
  c.input_forget = true;
  c.clip = 1.5f;
  c.activations = {"HardSigmoid", "LeakyRelu", "Softsign"};
  c.alphas = {0.3f, 0.05f};
  c.betas = {0.45f};
  c.lengths = {4, 5, 2};
  check_case(c);
}

TEST(Recurrent, BidirectionalLstmInDouble) {
  Case c;
  c.op = "LSTM";
  c.direction = "bidirectional";
  c.type = ElementType::f64;
  c.constant_weights = true;
  c.lengths = {2, 5, 3};
  check_case(c);
}

TEST(Recurrent, LargeBidirectionalLstmSplitAcrossThreads) {
  // 3 rows x 600 gate columns x 150 units: enough multiply-adds per step that each step is split
  // across the threads by hidden units; 150 units are not whole cache lines of floats, so the
  // slices are ragged. Rows end at different steps, so ended rows keep their state.
  Case c;
  c.op = "LSTM";
  c.direction = "bidirectional";
  c.batch_first = true;
  c.hidden = 150;
  c.threads = 3;
  c.constant_weights = true;
  c.lengths = {4, 5, 2};
  check_case(c);
}

TEST(Recurrent, BidirectionalRnnReluAndTanhWithManyRows) {
  // Nine rows: the step product's blocks of four rows and the remainder.
  Case c;
  c.op = "RNN";
  c.direction = "bidirectional";
  c.batch = 9;
  c.hidden = 37;
  c.constant_weights = true;
  c.activations = {"Relu", "Tanh"};
  check_case(c);
}

TEST(Recurrent, ForwardGruDoubleBatchFirst) {
  Case c;
  c.op = "GRU";
  c.batch_first = true;
  c.type = ElementType::f64;
  c.hidden = 40;
  check_case(c);
}

// The float helpers: sigmoid and tanh against the C library in double, over the range where
// they change and far beyond it; the step product against a plain triple loop.
TEST(VectorMath, SigmoidTanhAndSwishMatchTheCLibrary) {
  std::vector<float> xs;
  for (double x = -30; x <= 30; x += 0.00137) xs.push_back(static_cast<float>(x));
  for (float tiny : {1e-30f, -1e-20f, 3e-8f, -2e-5f, 0.f, 0.55f, -0.55f, 100.f, -100.f})
    xs.push_back(tiny);
  std::vector<float> s = xs, t = xs, w = xs;
  const float alpha = 1.7f;
  cpu::vec::sigmoid(s.data(), static_cast<int64_t>(s.size()));
  cpu::vec::tanh(t.data(), static_cast<int64_t>(t.size()));
  cpu::vec::swish(w.data(), static_cast<int64_t>(w.size()), alpha);
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i];
    const double sigmoid = 1 / (1 + std::exp(-x)), tanh = std::tanh(x);
    const double swish = x / (1 + std::exp(-alpha * x));
    ASSERT_NEAR(s[i], sigmoid, 1e-6 * sigmoid + 1e-37) << "sigmoid(" << x << ")";
    ASSERT_NEAR(t[i], tanh, 1e-6 * std::fabs(tanh) + 1e-37) << "tanh(" << x << ")";
    // alpha x reaches -51, where exp_bounded's reduction error (n times ln2's low part's
    // rounding) adds about a millionth relative; below -87 the exponent is clamped, so
    // x sigmoid(-87) stands for values too small for a float (absolute 1e-35).
    ASSERT_NEAR(w[i], swish, 3e-6 * std::fabs(swish) + 1e-35) << "swish(" << x << ")";
  }
}

// The GEGLU gate against the C library's erf in double: absolute error within Abramowitz and
// Stegun's 1.5e-7 on erf (times |x| / 2 in GELU), over the range where GELU bends and its tails;
// the product written over the values (y = values) as the kernel allows.
TEST(VectorMath, GatedGeluMatchesTheErfDefinition) {
  std::vector<float> gates, values;
  for (double x = -12; x <= 12; x += 0.00071) gates.push_back(static_cast<float>(x));
  for (float x : {1e-30f, -1e-20f, 0.f, -0.f, 30.f, -30.f, 100.f, -100.f}) gates.push_back(x);
  for (size_t i = 0; i < gates.size(); ++i) values.push_back(0.5f + std::sin(0.37f * i));
  std::vector<float> y = values;
  cpu::vec::gated_gelu(y.data(), gates.data(), y.data(), static_cast<int64_t>(y.size()));
  for (size_t i = 0; i < gates.size(); ++i) {
    const double x = gates[i];
    const double gelu = 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    const double want = values[i] * gelu;
    ASSERT_NEAR(y[i], want,
                2e-7 * std::fabs(values[i]) * (1 + std::fabs(x)) + 1e-6 * std::fabs(want))
        << "gelu(" << x << ") times " << values[i];
  }
}

TEST(VectorMath, ReluAndDepthwiseRowMatchTheirDefinitions) {
  std::vector<float> v = {-2.f, 3.f, -0.f, 0.f, std::numeric_limits<float>::quiet_NaN(), 1e-40f};
  for (int i = 0; i < 37; ++i) v.push_back(static_cast<float>((i * 7) % 11) - 5.f);
  std::vector<float> r = v;
  cpu::vec::relu(r.data(), static_cast<int64_t>(r.size()));
  for (size_t i = 0; i < v.size(); ++i)
    ASSERT_EQ(r[i], v[i] > 0 ? v[i] : 0.f) << "relu(" << v[i] << ")";
  // Rows of 3..40 outputs, 1..7 taps, strides 1 and 2, dilations 1 and 2, padding 0..3: each
  // output is the sum of its in-range taps, added in order, as a loop over outputs computes it.
  for (int64_t width : {3, 17, 24, 40})
    for (int64_t kw : {1, 5, 7})
      for (int64_t stride : {1, 2})
        for (int64_t dilation : {1, 2})
          for (int64_t pad : {0, 3}) {
            const int64_t in_width = width * stride;
            std::vector<float> in(static_cast<std::size_t>(in_width)), taps(kw);
            for (int64_t i = 0; i < in_width; ++i) in[i] = std::sin(0.7 * i);
            for (int64_t k = 0; k < kw; ++k) taps[k] = std::cos(1.3 * k) * 0.5f;
            std::vector<int64_t> first(kw), last(kw);
            for (int64_t k = 0; k < kw; ++k) {
              first[k] = width, last[k] = 0;
              for (int64_t o = 0; o < width; ++o) {
                const int64_t at = o * stride + k * dilation - pad;
                if (at < 0 || at >= in_width) continue;
                first[k] = std::min(first[k], o);
                last[k] = o + 1;
              }
              if (last[k] < first[k]) last[k] = first[k];
            }
            std::vector<float> out(static_cast<std::size_t>(width), 0.25f);
            cpu::vec::depthwise_row(in.data(), taps.data(), kw, stride, dilation, pad, first.data(),
                                    last.data(), out.data());
            for (int64_t o = 0; o < width; ++o) {
              float want = 0.25f;
              for (int64_t k = 0; k < kw; ++k) {
                const int64_t at = o * stride + k * dilation - pad;
                if (at >= 0 && at < in_width) want += taps[k] * in[at];
              }
              ASSERT_NEAR(out[o], want, 1e-6f) << "width " << width << " kw " << kw << " stride "
                                               << stride << " dilation " << dilation << " o " << o;
            }
          }
}

TEST(VectorMath, StepProductMatchesATripleLoop) {
  for (int64_t m : {1, 3, 4, 7})
    for (int64_t n : {1, 31, 32, 70})
      for (int64_t k : {0, 1, 9}) {
        const auto a = values(m * k, 0.2, 1), b = values(k * n, 0.9, 1), o = values(m * n, 1.7, 1);
        std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()), out(o.begin(), o.end());
        cpu::vec::accumulate_product(m, n, k, af.data(), k, bf.data(), n, out.data(), n);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double want = o[i * n + j];
            for (int64_t p = 0; p < k; ++p) want += double(af[i * k + p]) * bf[p * n + j];
            ASSERT_NEAR(out[i * n + j], want, 1e-5) << m << "x" << n << "x" << k;
          }
      }
}

// The products with b's rows (the recurrent weights as ONNX stores them): row blocks and their
// remainders, k below and above the vector width, leading dimensions wider than the rows.
TEST(VectorMath, DotProductsMatchATripleLoop) {
  for (int64_t m : {1, 2, 5})
    for (int64_t n : {1, 4, 8, 13})
      for (int64_t k : {0, 1, 15, 16, 40}) {
        const int64_t lda = k + 3, ldb = k + 5, ldo = n + 2;
        const auto a = values(m * lda, 0.2, 1), b = values(n * ldb, 0.9, 1),
                   o = values(m * ldo, 1.7, 1);
        std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()), out(o.begin(), o.end());
        cpu::vec::accumulate_dot_products(m, n, k, af.data(), lda, bf.data(), ldb, out.data(), ldo);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double want = o[i * ldo + j];
            for (int64_t p = 0; p < k; ++p) want += double(af[i * lda + p]) * bf[j * ldb + p];
            ASSERT_NEAR(out[i * ldo + j], want, 1e-5) << m << "x" << n << "x" << k;
          }
      }
}

// The integer products are exact: every sum below 2^24 comes out as the float of the exact
// integer, for extreme codes (+-255) too; a k beyond the kernel's int32 chunk stays within
// float rounding of the exact sum.
TEST(VectorMath, IntegerDotProductsAreExact) {
  auto codes = [](int64_t count, int seed) {
    std::vector<int16_t> v(static_cast<std::size_t>(count));
    for (int64_t i = 0; i < count; ++i)
      v[i] = static_cast<int16_t>((i * 7919 + seed * 104729) % 511 - 255);
    if (count > 0) v[0] = 255;
    if (count > 1) v[1] = -255;
    return v;
  };
  for (int64_t m : {1, 2, 3, 4, 5, 9})
    for (int64_t n : {1, 3, 4, 8, 13})
      for (int64_t k : {0, 1, 31, 32, 33, 100, 250}) {
        const int64_t lda = k + 1, ldb = k + 7, ldo = n + 1;
        const auto a = codes(m * lda, 1), b = codes(n * ldb, 2);
        std::vector<float> out(static_cast<std::size_t>(m * ldo), 0.5f);
        cpu::vec::accumulate_dot_products_i16(m, n, k, a.data(), lda, b.data(), ldb, out.data(),
                                              ldo);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            int64_t want = 0;
            for (int64_t p = 0; p < k; ++p) want += int64_t{a[i * lda + p]} * b[j * ldb + p];
            ASSERT_EQ(out[i * ldo + j], 0.5f + static_cast<float>(want))
                << m << "x" << n << "x" << k;
          }
      }
  const int64_t k = 70000;
  std::vector<int16_t> a(k, 255), b(k, -255);
  float out = 0.f;
  cpu::vec::accumulate_dot_products_i16(1, 1, k, a.data(), k, b.data(), k, &out, 1);
  const double want = -255.0 * 255.0 * k;
  ASSERT_NEAR(out, want, 1e-6 * -want);
}

// Row softmax, and the attention kernel's numerators (exp(v - max)) with their sum: masked
// (-inf, -1e4) and large entries, odd lengths.
TEST(VectorMath, SoftmaxMatchesTheFormula) {
  for (int64_t n : {1, 5, 17, 300}) {
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = 30.f * std::sin(1.3f * float(i));
    if (n > 2) v[1] = -std::numeric_limits<float>::infinity();
    if (n > 3) v[2] = -1e4f;
    std::vector<double> want(v.begin(), v.end());
    const double max = *std::max_element(want.begin(), want.end());
    double sum = 0;
    for (auto& w : want) sum += (w = std::exp(w - max));
    std::vector<float> numerators = v;
    const float got_sum = cpu::vec::softmax_numerators(numerators.data(), n);
    ASSERT_NEAR(got_sum, sum, 1e-6 * sum) << n;
    cpu::vec::softmax(v.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(v[i], want[i] / sum, 1e-6) << n << ":" << i;
      ASSERT_NEAR(numerators[i], want[i], 1e-6 * std::max(1.0, want[i])) << n << ":" << i;
    }
  }
}

// The kernels in use are the ones SINTER_CPU_VEC_ISA asks for where the CPU has them (ctest runs
// the VectorMath tests again under avx2 and baseline: unit_vector_avx2, unit_vector_baseline).
TEST(VectorMath, RunsTheRequestedInstructionSet) {
  const char* requested = std::getenv("SINTER_CPU_VEC_ISA");
  const std::string isa = cpu::vec::vector_isa();
  if (!requested || !*requested) {
    EXPECT_TRUE(isa == "avx512" || isa == "avx2" || isa == "baseline") << isa;
    return;
  }
  const std::string want = requested;
  __builtin_cpu_init();
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool has_avx512 = has_avx2 && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  if (want == "baseline" || (want == "avx2" && has_avx2) || (want == "avx512" && has_avx512))
    EXPECT_EQ(isa, want);
  else
    EXPECT_NE(isa, want) << "the CPU lacks " << want << ", yet its kernels run";
}

namespace {

// The IEEE half with bits h, by the definition: sign, 5 exponent bits (bias 15), 10 fraction
// bits; exponent 0 subnormal, 31 infinity or NaN.
double half_value(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, fraction = h & 1023;
  double v;
  if (exponent == 0)
    v = std::ldexp(fraction / 1024.0, -14);
  else if (exponent == 31)
    v = fraction ? std::numeric_limits<double>::quiet_NaN()
                 : std::numeric_limits<double>::infinity();
  else
    v = std::ldexp(1.0 + fraction / 1024.0, exponent - 15);
  return sign ? -v : v;
}

}  // namespace

// widen_half gives every half's value; narrow_to_half gives the nearest half (ties to the even
// fraction; beyond the largest half, infinity) and turns every half's value back into its bits.
TEST(VectorMath, HalfConversionsMatchTheIeeeDefinition) {
  std::vector<uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> widened(all.size());
  cpu::vec::widen_half(all.data(), widened.data(), static_cast<int64_t>(all.size()));
  for (int i = 0; i < 65536; ++i) {
    const double want = half_value(all[i]);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(widened[i])) << i;
      continue;
    }
    ASSERT_EQ(double(widened[i]), want) << "bits " << i;
  }
  std::vector<uint16_t> back(all.size());
  cpu::vec::narrow_to_half(widened.data(), back.data(), static_cast<int64_t>(all.size()));
  for (int i = 0; i < 65536; ++i)
    if (!std::isnan(widened[i])) {
      ASSERT_EQ(back[i], all[i]) << "value " << widened[i];
    }
  // Values between halves, halfway points and values beyond the range.
  std::vector<float> f;
  for (int i = 0; i < 3001; ++i) f.push_back(std::ldexp(std::sin(i * 0.7), (i % 40) - 26));
  for (uint16_t h : {uint16_t(0x3C00), uint16_t(0x3C01), uint16_t(0x0001), uint16_t(0x7BFE)})
    f.push_back(static_cast<float>((half_value(h) + half_value(h + 1)) / 2));
  f.push_back(65520.0f);  // halfway between the largest half and the next power: infinity
  f.push_back(-1e6f);
  std::vector<uint16_t> q(f.size());
  cpu::vec::narrow_to_half(f.data(), q.data(), static_cast<int64_t>(f.size()));
  for (std::size_t i = 0; i < f.size(); ++i) {
    const double got = half_value(q[i]), x = f[i];
    if (std::isinf(got)) {
      ASSERT_GE(std::fabs(x), 65520.0) << x;
      continue;
    }
    // No half lies nearer: the neighbours of q[i] (same sign) are no closer, a tie goes to even.
    for (int step : {-1, 1}) {
      const uint16_t n = static_cast<uint16_t>(q[i] + step);
      if (((n ^ q[i]) & 0x8000) || ((n >> 10) & 31) == 31) continue;
      const double there = std::fabs(half_value(n) - x), here = std::fabs(got - x);
      ASSERT_LE(here, there) << x;
      if (here == there) {
        ASSERT_EQ(q[i] & 1, 0) << "tie at " << x;
      }
    }
  }
}
