#include "diffusion/tokenizer/prompt_parser.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace sinter::diffusion {

namespace {

constexpr double kRoundBracket = 1.1;
constexpr double kSquareBracket = 1 / 1.1;
constexpr int kChunkLength = 75;
constexpr int kCommaBacktrack = 20;

bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Splits plain text at BREAK (a whole word, with the whitespace around it).
std::vector<std::string> split_at_break(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0, search = 0;
  while (true) {
    const std::size_t at = text.find("BREAK", search);
    if (at == std::string::npos) break;
    const std::size_t end = at + 5;
    const bool whole = (at == 0 || !is_word_char(text[at - 1])) &&
                       (end == text.size() || !is_word_char(text[end]));
    if (!whole) {
      search = at + 1;
      continue;
    }
    std::size_t cut = at, resume = end;
    while (cut > start && std::isspace(static_cast<unsigned char>(text[cut - 1]))) --cut;
    while (resume < text.size() && std::isspace(static_cast<unsigned char>(text[resume]))) ++resume;
    parts.push_back(text.substr(start, cut - start));
    start = search = resume;
  }
  parts.push_back(text.substr(start));
  return parts;
}

// At a ':' : the weight of ":<spaces>[+-]digits-and-dots<spaces>)" and the length it spans.
bool weight_at(const std::string& s, std::size_t i, double& weight, std::size_t& length) {
  std::size_t j = i + 1;
  while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
  const std::size_t number = j;
  if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
  const std::size_t digits = j;
  while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
  if (j == digits) return false;
  const std::string text = s.substr(number, j - number);
  while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
  if (j >= s.size() || s[j] != ')') return false;
  char* end = nullptr;
  weight = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return false;  // "1.2.3": not a number, plain text
  length = j + 1 - i;
  return true;
}

}  // namespace

std::vector<WeightedText> parse_prompt_attention(const std::string& prompt) {
  std::vector<WeightedText> res;
  std::vector<std::size_t> round, square;
  auto multiply_from = [&](std::size_t start, double factor) {
    for (std::size_t p = start; p < res.size(); ++p) res[p].weight *= factor;
  };
  auto plain = [&](const std::string& text) {
    const std::vector<std::string> parts = split_at_break(text);
    for (std::size_t k = 0; k < parts.size(); ++k) {
      if (k > 0) res.push_back({"BREAK", -1});
      res.push_back({parts[k], 1.0});
    }
  };
  static const std::string kSpecial = "\\()[]:";
  for (std::size_t i = 0; i < prompt.size();) {
    const char c = prompt[i];
    double weight = 0;
    std::size_t length = 0;
    if (c == '\\') {
      const bool escape =
          i + 1 < prompt.size() && std::string("()[]\\").find(prompt[i + 1]) != std::string::npos;
      res.push_back({escape ? std::string(1, prompt[i + 1]) : std::string(), 1.0});
      i += escape ? 2 : 1;
    } else if (c == '(') {
      round.push_back(res.size());
      ++i;
    } else if (c == '[') {
      square.push_back(res.size());
      ++i;
    } else if (c == ':' && weight_at(prompt, i, weight, length)) {
      if (!round.empty()) {
        multiply_from(round.back(), weight);
        round.pop_back();
      } else {
        plain(prompt.substr(i, length));
      }
      i += length;
    } else if (c == ')' && !round.empty()) {
      multiply_from(round.back(), kRoundBracket);
      round.pop_back();
      ++i;
    } else if (c == ']' && !square.empty()) {
      multiply_from(square.back(), kSquareBracket);
      square.pop_back();
      ++i;
    } else if (c == ')' || c == ']' || c == ':') {
      plain(std::string(1, c));
      ++i;
    } else {
      const std::size_t end = prompt.find_first_of(kSpecial, i);
      const std::size_t stop = end == std::string::npos ? prompt.size() : end;
      plain(prompt.substr(i, stop - i));
      i = stop;
    }
  }
  for (std::size_t p : round) multiply_from(p, kRoundBracket);
  for (std::size_t p : square) multiply_from(p, kSquareBracket);
  if (res.empty()) res.push_back({"", 1.0});
  for (std::size_t i = 0; i + 1 < res.size();) {
    if (res[i].weight == res[i + 1].weight) {
      res[i].text += res[i + 1].text;
      res.erase(res.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    } else {
      ++i;
    }
  }
  return res;
}

PromptChunks tokenize_prompt(const ClipTokenizer& tokenizer, const std::string& prompt) {
  PromptChunks out;
  std::vector<int> tokens;
  std::vector<float> weights;
  int last_comma = -1;
  const int comma = tokenizer.id_of(",</w>");
  auto next_chunk = [&](bool is_last) {
    out.token_count += is_last ? static_cast<int>(tokens.size()) : kChunkLength;
    tokens.resize(kChunkLength, tokenizer.pad());
    weights.resize(kChunkLength, 1.0f);
    tokens.insert(tokens.begin(), tokenizer.bos());
    tokens.push_back(tokenizer.eos());
    weights.insert(weights.begin(), 1.0f);
    weights.push_back(1.0f);
    out.tokens.push_back(std::move(tokens));
    out.weights.push_back(std::move(weights));
    tokens.clear();
    weights.clear();
    last_comma = -1;
  };
  for (const WeightedText& part : parse_prompt_attention(prompt)) {
    if (part.weight == -1 && part.text == "BREAK") {
      next_chunk(false);
      continue;
    }
    for (int id : tokenizer.encode(part.text)) {
      if (id == comma) {
        last_comma = static_cast<int>(tokens.size());
      } else if (static_cast<int>(tokens.size()) == kChunkLength && last_comma != -1 &&
                 kChunkLength - last_comma <= kCommaBacktrack) {
        // Move what follows the last comma into the next chunk.
        const std::vector<int> moved(tokens.begin() + last_comma + 1, tokens.end());
        const std::vector<float> moved_weights(weights.begin() + last_comma + 1, weights.end());
        tokens.resize(static_cast<std::size_t>(last_comma) + 1);
        weights.resize(static_cast<std::size_t>(last_comma) + 1);
        next_chunk(false);
        tokens = moved;
        weights = moved_weights;
      }
      if (static_cast<int>(tokens.size()) == kChunkLength) next_chunk(false);
      tokens.push_back(id);
      weights.push_back(static_cast<float>(part.weight));
    }
  }
  if (!tokens.empty() || out.tokens.empty()) next_chunk(true);
  return out;
}

}  // namespace sinter::diffusion
