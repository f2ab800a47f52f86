// A GPT-2-style causal decoder written the way exporters wrote it before opset 17: layer norms
// as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add, GELU's tanh approximation as Pow/Mul/
// Add/Tanh, one fused QKV projection split three ways, keys transposed by a Transpose and a
// constant causal mask added to the scores. Checks that such graphs fuse as well as the
// opset-17 spellings (and match ONNX Runtime, which fuses them too).

#include <cmath>

#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;

std::string decomposed_layer_norm(ModelBuilder& b, const std::string& x, int64_t dim) {
  auto mean = [&](const std::string& v) {
    return b.node("ReduceMean", {v}, {{"axes", std::vector<int64_t>{-1}}});
  };
  const std::string d = b.node("Sub", {x, mean(x)});
  const std::string var = mean(b.node("Pow", {d, b.scalar("two", 2.0f)}));
  const std::string std_dev = b.node("Sqrt", {b.node("Add", {var, b.scalar("eps", 1e-5f)})});
  const std::string n = b.node("Div", {d, std_dev});
  const std::string scaled = b.node("Mul", {n, b.uniform("ln_gamma", {dim}, 0.8f, 1.2f)});
  return b.node("Add", {scaled, b.weight("ln_beta", {dim}, 0.1f)});
}

std::string gelu_tanh(ModelBuilder& b, const std::string& x) {
  const std::string cube = b.node("Pow", {x, b.scalar("three", 3.0f)});
  const std::string inner =
      b.node("Add", {x, b.node("Mul", {cube, b.scalar("gelu_k", 0.044715f)})});
  const std::string t = b.node(
      "Tanh", {b.node("Mul", {inner, b.scalar("sqrt_2_pi", std::sqrt(2.0f / 3.14159265f))})});
  const std::string half_x = b.node("Mul", {x, b.scalar("half", 0.5f)});
  return b.node("Mul", {half_x, b.node("Add", {t, b.scalar("one", 1.0f)})});
}

// [batch, seq, dim] -> [batch, heads, seq, head_dim] (or [.., head_dim, seq] for keys).
std::string heads_of(ModelBuilder& b, const std::string& x, int64_t heads, int64_t head_dim,
                     bool keys) {
  const std::string r = b.node("Reshape", {x, b.ints("heads", {0, 0, heads, head_dim})});
  return b.node(
      "Transpose", {r},
      {{"perm", keys ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 2, 1, 3}}});
}

std::string decoder_block(ModelBuilder& b, const std::string& x, int64_t dim, int64_t heads,
                          const std::string& causal_mask) {
  const int64_t head_dim = dim / heads;
  const std::string qkv = linear(b, decomposed_layer_norm(b, x, dim), dim, 3 * dim);
  const auto parts =
      b.node_n("Split", {qkv, b.ints("qkv_sizes", {dim, dim, dim})}, 3, {{"axis", int64_t{-1}}});
  const std::string scores =
      b.node("Div", {b.node("MatMul", {heads_of(b, parts[0], heads, head_dim, false),
                                       heads_of(b, parts[1], heads, head_dim, true)}),
                     b.scalar("root_head_dim", std::sqrt(static_cast<float>(head_dim)))});
  const std::string probs =
      b.node("Softmax", {b.node("Add", {scores, causal_mask})}, {{"axis", int64_t{-1}}});
  const std::string context = b.node(
      "Transpose", {b.node("MatMul", {probs, heads_of(b, parts[2], heads, head_dim, false)})},
      {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  const std::string merged = b.node("Reshape", {context, b.ints("merge", {0, 0, dim})});
  const std::string h = b.node("Add", {x, linear(b, merged, dim, dim)});
  const std::string up = linear(b, decomposed_layer_norm(b, h, dim), dim, 4 * dim);
  return b.node("Add", {h, linear(b, gelu_tanh(b, up), 4 * dim, dim)});
}

}  // namespace

void build_decoder(const std::string& dir) {
  const int64_t vocab = 1024, dim = 256, heads = 4, layers = 2, seq = 64;
  ModelBuilder b("gpt2_style_decoder", 13);
  const std::string ids = b.input("input_ids", kInt64, {std::string("batch"), int64_t{seq}});
  std::vector<int64_t> positions(seq);
  for (int64_t i = 0; i < seq; ++i) positions[i] = i;
  std::string x = b.node(
      "Add",
      {b.node("Gather", {b.weight("wte", {vocab, dim}, 1.0f), ids}),
       b.node("Gather", {b.weight("wpe", {seq, dim}, 0.5f), b.ints("positions", positions)})});
  // -10000 above the diagonal, as GPT-2's exports add it.
  std::vector<float> mask(seq * seq, 0.0f);
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = i + 1; j < seq; ++j) mask[i * seq + j] = -10000.0f;
  const std::string causal = b.floats("causal_mask", {1, 1, seq, seq}, mask);
  for (int64_t l = 0; l < layers; ++l) x = decoder_block(b, x, dim, heads, causal);
  b.output(linear(b, decomposed_layer_norm(b, x, dim), dim, vocab, false), "logits");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"input_ids"}, {random_ids(b.rng(), {2, seq}, vocab)});
}

}  // namespace zoo
