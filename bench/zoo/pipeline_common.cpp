// What every zoo pipeline writes alike: a byte-level BPE tokenizer with merges for a small
// English vocabulary, a CLIP-style text encoder, and the diffusers folder's configs.

#include "pipeline_common.hpp"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "layers.hpp"

namespace zoo {

namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt32 = onnx::TensorProto::INT32;
constexpr int64_t kSequence = 77;

void write_json(const std::filesystem::path& path, const nlohmann::json& j) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << j.dump(2) << "\n";
}

}  // namespace

static const char* const kWords[] = {
    "a",           "an",     "the",       "of",       "and",        "in",        "on",
    "with",        "at",     "by",        "photo",    "photograph", "painting",  "portrait",
    "drawing",     "cat",    "dog",       "horse",    "bird",       "astronaut", "riding",
    "sitting",     "red",    "blue",      "green",    "yellow",     "black",     "white",
    "house",       "tree",   "mountain",  "lake",     "sky",        "sun",       "moon",
    "city",        "street", "night",     "day",      "forest",     "river",     "castle",
    "car",         "flower", "woman",     "man",      "girl",       "boy",       "robot",
    "masterpiece", "best",   "quality",   "detailed", "ultra",      "high",      "low",
    "blurry",      "ugly",   "beautiful", "sharp",    "focus",      "light",     "dark",
    "cinematic",   "style",  "art",       "oil",      "watercolor", "sunset",    "winter"};

// GPT-2's byte characters: printable Latin-1 bytes stand for themselves, the rest for 256+n.
static std::vector<std::string> byte_characters() {
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  auto utf8 = [](int c) {
    std::string s;
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else {  // all below 0x800
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
    return s;
  };
  std::vector<std::string> chars(256);
  int next = 256;
  std::vector<int> order;
  for (int b = 0; b < 256; ++b)
    if (printable(b)) order.push_back(b);
  for (int b = 0; b < 256; ++b) chars[b] = utf8(printable(b) ? b : next++);
  // vocab.json lists them printable bytes first, as CLIP's does.
  std::vector<std::string> listed;
  for (int b : order) listed.push_back(chars[b]);
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) listed.push_back(chars[b]);
  return listed;
}

// vocab.json and merges.txt: the byte characters (alone and ending a word), one merge per step
// that builds each word of kWords left to right, and the two special tokens last.
int64_t write_bpe_tokenizer(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> vocab = byte_characters();
  const std::size_t singles = vocab.size();
  for (std::size_t i = 0; i < singles; ++i) vocab.push_back(vocab[i] + "</w>");
  std::set<std::string> known(vocab.begin(), vocab.end());
  std::vector<std::string> merges;
  for (const char* word : kWords) {
    std::string built(1, word[0]);
    const std::size_t n = std::char_traits<char>::length(word);
    if (n == 1) continue;
    for (std::size_t i = 1; i < n; ++i) {
      const std::string next = std::string(1, word[i]) + (i + 1 == n ? "</w>" : "");
      const std::string merged = built + next;
      if (!known.count(merged)) {
        merges.push_back(built + " " + next);
        vocab.push_back(merged);
        known.insert(merged);
      }
      built = merged;
    }
  }
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");
  nlohmann::json v = nlohmann::json::object();
  for (std::size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  std::ofstream(dir / "vocab.json") << v.dump();
  std::ofstream m(dir / "merges.txt");
  m << "#version: 0.2\n";
  for (const auto& merge : merges) m << merge << "\n";
  const nlohmann::json config = {
      {"bos_token", "<|startoftext|>"},    {"eos_token", "<|endoftext|>"},
      {"unk_token", "<|endoftext|>"},      {"pad_token", "<|endoftext|>"},
      {"model_max_length", kSequence},     {"do_lower_case", true},
      {"tokenizer_class", "CLIPTokenizer"}};
  std::ofstream(dir / "tokenizer_config.json") << config.dump(2);
  std::ofstream(dir / "special_tokens_map.json") << nlohmann::json{
      {"bos_token", "<|startoftext|>"},
      {"eos_token", "<|endoftext|>"},
      {"unk_token", "<|endoftext|>"},
      {"pad_token", "<|endoftext|>"}}.dump(2);
  return static_cast<int64_t>(vocab.size());
}

void build_clip_text_encoder(const std::filesystem::path& dir, const ClipTextSpec& spec) {
  const EncoderSpec s{spec.dim, spec.heads, 4 * spec.dim, true, true};
  const int64_t vocab = spec.vocab;
  ModelBuilder b("text_encoder", spec.seed);
  const std::string ids = b.input("input_ids", kInt32, {std::string("batch"), kSequence});
  std::string x = b.node("Add", {embed(b, ids, vocab, s.dim),
                                 b.weight("position_embedding", {kSequence, s.dim}, 0.5f)});
  const std::string neg_inf =
      b.floats("neg_inf", {kSequence, kSequence},
               std::vector<float>(kSequence * kSequence, -std::numeric_limits<float>::infinity()));
  const std::string causal =
      b.node("Trilu", {neg_inf, b.int_scalar("k", 1)}, {{"upper", int64_t{1}}});
  for (int64_t layer = 0; layer < spec.layers; ++layer) x = encoder_layer(b, x, s, causal);
  x = layer_norm(b, x, s.dim);
  b.output(x, "last_hidden_state");
  // Pooled: the hidden state at the end-of-text token, the largest id of each row.
  const std::string eot = b.node(
      "Unsqueeze", {b.node("ArgMax", {ids}, {{"axis", int64_t{-1}}, {"keepdims", int64_t{0}}}),
                    b.ints("axis_last", {-1})});
  b.output(b.node("GatherND", {x, eot}, {{"batch_dims", int64_t{1}}}), "pooler_output");
  std::filesystem::create_directories(dir);
  b.save((dir / "model.onnx").string(), spec.dim >= 512);  // external data, as large exports
}

void write_pipeline_configs(const std::filesystem::path& dir) {
  const nlohmann::json onnx_model = {"diffusers", "OnnxRuntimeModel"};
  write_json(dir / "model_index.json", {{"_class_name", "OnnxStableDiffusionPipeline"},
                                        {"_diffusers_version", "0.30.0"},
                                        {"text_encoder", onnx_model},
                                        {"unet", onnx_model},
                                        {"vae_decoder", onnx_model},
                                        {"vae_encoder", onnx_model},
                                        {"tokenizer", {"transformers", "CLIPTokenizer"}},
                                        {"scheduler", {"diffusers", "PNDMScheduler"}},
                                        {"safety_checker", {nullptr, nullptr}},
                                        {"feature_extractor", {nullptr, nullptr}},
                                        {"requires_safety_checker", false}});
  // SD 1.5's scheduler configuration.
  write_json(dir / "scheduler" / "scheduler_config.json", {{"_class_name", "PNDMScheduler"},
                                                           {"beta_start", 0.00085},
                                                           {"beta_end", 0.012},
                                                           {"beta_schedule", "scaled_linear"},
                                                           {"num_train_timesteps", 1000},
                                                           {"set_alpha_to_one", false},
                                                           {"skip_prk_steps", true},
                                                           {"steps_offset", 1},
                                                           {"clip_sample", false},
                                                           {"prediction_type", "epsilon"}});
  write_json(
      dir / "vae_decoder" / "config.json",
      {{"_class_name", "AutoencoderKL"}, {"scaling_factor", 0.18215}, {"latent_channels", 4}});
  write_json(
      dir / "vae_encoder" / "config.json",
      {{"_class_name", "AutoencoderKL"}, {"scaling_factor", 0.18215}, {"latent_channels", 4}});
}

}  // namespace zoo
