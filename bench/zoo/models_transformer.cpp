// Transformers: a BERT-style encoder, a ViT classifier and a CLIP-style causal text encoder.

#include <limits>

#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;

}  // namespace

void build_bert(const std::string& dir) {
  const EncoderSpec s{768, 12, 3072, false, false};
  const int64_t vocab = 2048, max_positions = 512, layers = 2, batch = 2, seq = 32;
  ModelBuilder b("bert", 768);
  const std::vector<Dim> dims = {std::string("batch"), std::string("sequence")};
  const std::string ids = b.input("input_ids", kInt64, dims);
  const std::string types = b.input("token_type_ids", kInt64, dims);
  const std::string mask = b.input("attention_mask", kInt64, dims);

  // Positions 0..S-1 sliced from a constant table, S read from the input's shape.
  std::vector<int64_t> positions(max_positions);
  for (int64_t i = 0; i < max_positions; ++i) positions[i] = i;
  const std::string seq_len = b.node("Shape", {ids}, {{"start", int64_t{1}}, {"end", int64_t{2}}});
  const std::string position_ids = b.node(
      "Slice",
      {b.ints("position_ids", positions), b.ints("zero", {0}), seq_len, b.ints("axis0", {0})});
  std::string x = b.node("Add", {embed(b, ids, vocab, s.dim), embed(b, types, 2, s.dim)});
  x = layer_norm(b, b.node("Add", {x, embed(b, position_ids, max_positions, s.dim)}), s.dim);

  // (1 - mask) * -10000, broadcast over heads and query positions.
  const std::string mask_f = b.node("Cast", {b.node("Unsqueeze", {mask, b.ints("axes", {1, 2})})},
                                    {{"to", int64_t{kFloat}}});
  const std::string additive =
      b.node("Mul", {b.node("Sub", {b.scalar("one", 1.0f), mask_f}), b.scalar("neg", -10000.0f)});
  for (int64_t i = 0; i < layers; ++i) x = encoder_layer(b, x, s, additive);
  b.output(x, "last_hidden_state");

  const std::string cls = b.node("Gather", {x, b.int_scalar("cls", 0)}, {{"axis", int64_t{1}}});
  b.output(b.node("Tanh", {linear(b, cls, s.dim, s.dim)}), "pooler_output");
  b.save(dir + "/model.onnx", /*external_data=*/true);

  sinter::Tensor attention_mask(sinter::ElementType::i64, {batch, seq});
  for (int64_t r = 0; r < batch; ++r)
    for (int64_t c = 0; c < seq; ++c)
      attention_mask.data_as<int64_t>()[r * seq + c] = (r == 1 && c >= seq - 7) ? 0 : 1;
  write_inputs(dir, {"input_ids", "token_type_ids", "attention_mask"},
               {random_ids(b.rng(), {batch, seq}, vocab), random_ids(b.rng(), {batch, seq}, 2),
                attention_mask});
}

void build_vit(const std::string& dir) {
  const EncoderSpec s{192, 3, 768, true, false};
  const int64_t patch = 16, image = 224, layers = 4, classes = 1000;
  const int64_t tokens = (image / patch) * (image / patch) + 1;
  ModelBuilder b("vit_tiny", 16);
  const std::string img = b.input("pixel_values", kFloat, {int64_t{1}, int64_t{3}, image, image});
  std::string x =
      b.node("Conv",
             {img, b.fan_in_weight("patch_w", {s.dim, 3, patch, patch}, 3 * patch * patch),
              b.weight("patch_b", {s.dim}, 0.05f)},
             {{"kernel_shape", std::vector<int64_t>{patch, patch}},
              {"strides", std::vector<int64_t>{patch, patch}}});
  x = image_to_sequence(b, x);

  // The class token, expanded to the batch read from the input's shape.
  const std::string batch = b.node("Shape", {img}, {{"end", int64_t{1}}});
  const std::string cls_shape =
      b.node("Concat", {batch, b.ints("cls_rest", {1, s.dim})}, {{"axis", int64_t{0}}});
  const std::string cls = b.node("Expand", {b.weight("cls_token", {1, 1, s.dim}, 1.0f), cls_shape});
  x = b.node("Concat", {cls, x}, {{"axis", int64_t{1}}});
  x = b.node("Add", {x, b.weight("pos_embedding", {1, tokens, s.dim}, 0.5f)});
  for (int64_t i = 0; i < layers; ++i) x = encoder_layer(b, x, s, "");
  x = layer_norm(b, x, s.dim);
  x = b.node("Gather", {x, b.int_scalar("cls_index", 0)}, {{"axis", int64_t{1}}});
  b.output(linear(b, x, s.dim, classes), "logits");
  b.save(dir + "/model.onnx");
  write_inputs(dir, {"pixel_values"}, {random_floats(b.rng(), {1, 3, image, image}, -1.0f, 1.0f)});
}

void build_text_encoder(const std::string& dir) {
  const EncoderSpec s{256, 4, 1024, true, true};
  const int64_t vocab = 1000, seq = 77, layers = 2;
  ModelBuilder b("clip_text", 77);
  const std::string ids = b.input("input_ids", kInt64, {int64_t{1}, seq});
  std::string x = embed(b, ids, vocab, s.dim);
  x = b.node("Add", {x, b.weight("pos_embedding", {seq, s.dim}, 0.5f)});

  // Causal mask: -inf above the diagonal (Trilu keeps k >= 1), zero elsewhere.
  const std::string neg_inf =
      b.floats("neg_inf", {seq, seq},
               std::vector<float>(seq * seq, -std::numeric_limits<float>::infinity()));
  const std::string causal =
      b.node("Trilu", {neg_inf, b.int_scalar("k", 1)}, {{"upper", int64_t{1}}});
  for (int64_t i = 0; i < layers; ++i) x = encoder_layer(b, x, s, causal);
  x = layer_norm(b, x, s.dim);
  b.output(x, "last_hidden_state");

  // Pooled output: the hidden state at the end-of-text token (the largest id), per batch row.
  const std::string eot = b.node(
      "Unsqueeze", {b.node("ArgMax", {ids}, {{"axis", int64_t{-1}}, {"keepdims", int64_t{0}}}),
                    b.ints("axis_last", {-1})});
  b.output(b.node("GatherND", {x, eot}, {{"batch_dims", int64_t{1}}}), "pooled_output");
  b.save(dir + "/model.onnx");

  // Token ids as a tokenizer writes them: start token, words, end token (the largest id), padding.
  sinter::Tensor tokens = random_ids(b.rng(), {1, seq}, vocab - 2);
  int64_t* t = tokens.data_as<int64_t>();
  t[0] = vocab - 2;
  t[12] = vocab - 1;
  for (int64_t i = 13; i < seq; ++i) t[i] = 0;
  write_inputs(dir, {"input_ids"}, {tokens});
}

}  // namespace zoo
