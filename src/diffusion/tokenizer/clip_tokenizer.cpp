#include "diffusion/tokenizer/clip_tokenizer.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <climits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace sinter::diffusion {

namespace {

std::string utf8(char32_t c) {
  std::string s;
  icu::UnicodeString(static_cast<UChar32>(c)).toUTF8String(s);
  return s;
}

// GPT-2's map of bytes to printable characters: the printable Latin-1 bytes stand for
// themselves, the others (controls, space, ...) for 256, 257, ... in byte order.
void byte_characters(std::string (&chars)[256]) {
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  int next = 256;
  for (int b = 0; b < 256; ++b) chars[b] = utf8(static_cast<char32_t>(printable(b) ? b : next++));
}

bool is_letter(char32_t c) {
  return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0;
}
bool is_number(char32_t c) {
  return (U_GET_GC_MASK(c) & U_GC_N_MASK) != 0;
}
bool is_space(char32_t c) {
  return u_isUWhiteSpace(static_cast<UChar32>(c));
}

bool starts_with(const std::u32string& s, std::size_t at, const std::u32string& prefix) {
  return s.compare(at, prefix.size(), prefix) == 0;
}

// CLIP's pattern, alternatives tried in order at each position:
//   <|startoftext|> | <|endoftext|> | 's|'t|'re|'ve|'m|'ll|'d | \p{L}+ | \p{N} | [^\s\p{L}\p{N}]+
std::vector<std::u32string> split_pieces(const std::u32string& text) {
  static const std::u32string specials[] = {U"<|startoftext|>", U"<|endoftext|>"};
  static const std::u32string contractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> pieces;
  std::size_t i = 0;
  while (i < text.size()) {
    const char32_t c = text[i];
    std::size_t length = 0;
    for (const auto& s : specials)
      if (!length && starts_with(text, i, s)) length = s.size();
    for (const auto& s : contractions)
      if (!length && starts_with(text, i, s)) length = s.size();
    if (!length && is_letter(c)) {
      while (i + length < text.size() && is_letter(text[i + length])) ++length;
    } else if (!length && is_number(c)) {
      length = 1;
    } else if (!length && !is_space(c)) {
      auto other = [](char32_t x) { return !is_space(x) && !is_letter(x) && !is_number(x); };
      while (i + length < text.size() && other(text[i + length])) ++length;
    }
    if (length == 0) {  // whitespace between pieces
      ++i;
      continue;
    }
    pieces.push_back(text.substr(i, length));
    i += length;
  }
  return pieces;
}

// NFC, whitespace runs to one space, lower case (full Unicode mappings), as code points.
std::u32string normalize(const std::string& text) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_SUCCESS(status)) u = nfc->normalize(u, status);
  if (U_FAILURE(status)) throw std::runtime_error("cannot normalise the prompt (invalid UTF-8?)");
  u.toLower(icu::Locale::getRoot());
  std::u32string out;
  bool in_space = false;
  for (int32_t k = 0; k < u.length(); k = u.moveIndex32(k, 1)) {
    const char32_t c = static_cast<char32_t>(u.char32At(k));
    if (is_space(c)) {
      if (!in_space) out.push_back(U' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return out;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path.string() + " is not valid JSON: " + e.what());
  }
}

// A special token given as a string or as {"content": ...}; empty when absent.
std::string token_text(const nlohmann::json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return {};
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v["content"].get<std::string>();
  return {};
}

}  // namespace

ClipTokenizer::ClipTokenizer(std::unordered_map<std::string, int> vocab,
                             const std::vector<std::pair<std::string, std::string>>& merges)
    : vocab_(std::move(vocab)) {
  byte_characters(byte_chars_);
  for (std::size_t r = 0; r < merges.size(); ++r)
    merge_ranks_.emplace(merges[r].first + " " + merges[r].second, static_cast<int>(r));
  bos_ = id_of("<|startoftext|>");
  eos_ = unk_ = pad_ = id_of("<|endoftext|>");
}

ClipTokenizer ClipTokenizer::load(const std::filesystem::path& folder) {
  const nlohmann::json vocab_json = read_json(folder / "vocab.json");
  if (!vocab_json.is_object())
    throw std::runtime_error((folder / "vocab.json").string() + " is not an object");
  std::unordered_map<std::string, int> vocab;
  for (const auto& [token, id] : vocab_json.items()) {
    if (!id.is_number_integer())
      throw std::runtime_error((folder / "vocab.json").string() + ": id of '" + token +
                               "' is not an integer");
    vocab.emplace(token, id.get<int>());
  }
  std::ifstream in(folder / "merges.txt");
  if (!in) throw std::runtime_error("cannot read " + (folder / "merges.txt").string());
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const auto space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
      throw std::runtime_error((folder / "merges.txt").string() + ":" + std::to_string(number) +
                               ": expected two symbols separated by one space");
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  ClipTokenizer t(std::move(vocab), merges);
  // Special tokens and length from the configs (special_tokens_map.json wins where both say).
  nlohmann::json config = nlohmann::json::object();
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    if (!std::filesystem::exists(folder / name)) continue;
    const nlohmann::json part = read_json(folder / name);
    if (!part.is_object()) throw std::runtime_error((folder / name).string() + " is not an object");
    for (const auto& [k, v] : part.items()) config[k] = v;
  }
  auto special = [&](const char* key, int fallback) {
    const std::string text = token_text(config, key);
    if (text.empty()) return fallback;
    const int id = t.id_of(text);
    if (id < 0)
      throw std::runtime_error(folder.string() + ": " + key + " '" + text +
                               "' is not in vocab.json");
    return id;
  };
  t.bos_ = special("bos_token", t.bos_);
  t.eos_ = special("eos_token", t.eos_);
  t.unk_ = special("unk_token", t.unk_);
  t.pad_ = special("pad_token", t.eos_);
  if (config.contains("model_max_length") && config["model_max_length"].is_number()) {
    const double length = config["model_max_length"].get<double>();
    // Some configs say "no limit" with a huge number; CLIP's text encoders take 77.
    t.max_length_ = length >= 3 && length <= 4096 ? static_cast<int>(length) : 77;
  }
  if (t.bos_ < 0 || t.eos_ < 0)
    throw std::runtime_error(folder.string() + ": no start/end token in vocab.json");
  return t;
}

int ClipTokenizer::id_of(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

std::vector<int> ClipTokenizer::bpe(const std::string& piece) const {
  // Symbols: one printable character per UTF-8 byte, "</w>" on the last.
  std::vector<std::string> word;
  for (unsigned char b : piece) word.push_back(byte_chars_[b]);
  if (word.empty()) return {};
  word.back() += "</w>";
  while (word.size() > 1) {
    int best = INT_MAX;
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = merge_ranks_.find(word[i] + " " + word[i + 1]);
      if (it != merge_ranks_.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == INT_MAX) break;
    // Merge every occurrence of that pair, left to right.
    const std::string first = word[at], second = word[at + 1];
    std::vector<std::string> merged;
    for (std::size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  std::vector<int> ids;
  for (const auto& symbol : word) {
    const int id = id_of(symbol);
    ids.push_back(id >= 0 ? id : unk_);
  }
  return ids;
}

std::vector<int> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  for (const std::u32string& piece : split_pieces(normalize(text))) {
    std::string bytes;
    for (char32_t c : piece) bytes += utf8(c);
    // A whole special token is its id, not bytes.
    if (piece == U"<|startoftext|>" || piece == U"<|endoftext|>") {
      ids.push_back(id_of(bytes));
      continue;
    }
    const std::vector<int> part = bpe(bytes);
    ids.insert(ids.end(), part.begin(), part.end());
  }
  return ids;
}

std::vector<int> ClipTokenizer::encode_padded(const std::string& text) const {
  std::vector<int> ids = encode(text);
  if (static_cast<int>(ids.size()) > max_length_ - 2) ids.resize(max_length_ - 2);
  ids.insert(ids.begin(), bos_);
  ids.push_back(eos_);
  ids.resize(max_length_, pad_);
  return ids;
}

}  // namespace sinter::diffusion
