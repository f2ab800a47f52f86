// AUTOMATIC1111's prompt syntax, as its web UI reads prompts: (text) multiplies attention by
// 1.1, [text] divides it by 1.1, (text:1.5) sets it, \( \) \[ \] \\ are literal, and BREAK
// starts a new chunk. Prompts longer than 75 tokens are encoded in chunks of 75 (each with
// start and end tokens, padded to 77) whose encodings are concatenated; a chunk that would end
// within 20 tokens after a comma ends at the comma instead.
#pragma once

#include <string>
#include <vector>

#include "diffusion/tokenizer/clip_tokenizer.hpp"

namespace sinter::diffusion {

struct WeightedText {
  std::string text;
  double weight;  // -1 marks a BREAK
};

// A1111's parse_prompt_attention: runs of text with their attention weights, neighbours of
// equal weight merged.
std::vector<WeightedText> parse_prompt_attention(const std::string& prompt);

struct PromptChunks {
  std::vector<std::vector<int>> tokens;     // each chunk: start, 75 ids (padded), end
  std::vector<std::vector<float>> weights;  // per token, 1.0 on the start, end and padding
  int token_count = 0;                      // A1111's token counter
};

PromptChunks tokenize_prompt(const ClipTokenizer& tokenizer, const std::string& prompt);

}  // namespace sinter::diffusion
