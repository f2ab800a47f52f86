// The CLIP tokenizer against Hugging Face's implementation (ids written by
// tests/diffusion/clip_reference.mjs with CLIP's real vocabulary), and A1111's prompt syntax
// against the examples its parse_prompt_attention documents.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "diffusion/tokenizer/clip_tokenizer.hpp"
#include "diffusion/tokenizer/prompt_parser.hpp"

namespace {

using sinter::diffusion::ClipTokenizer;
using sinter::diffusion::parse_prompt_attention;
using sinter::diffusion::tokenize_prompt;
using sinter::diffusion::WeightedText;

// Runs only with the reference written (ctest's diffusion_clip_vs_hf sets the variable); run
// without it, it fails rather than passing unchecked.
TEST(ClipReference, IdsEqualHuggingFacesTokenizer) {
  const char* dir = std::getenv("SINTER_CLIP_REFERENCE");
  ASSERT_NE(dir, nullptr) << "set SINTER_CLIP_REFERENCE to clip_reference.mjs's output folder";
  const ClipTokenizer t = ClipTokenizer::load(std::filesystem::path(dir) / "tokenizer");
  EXPECT_EQ(t.vocab_size(), 49408u);
  EXPECT_EQ(t.bos(), 49406);
  EXPECT_EQ(t.eos(), 49407);
  std::ifstream in(std::filesystem::path(dir) / "reference.json");
  const auto reference = nlohmann::json::parse(in);
  ASSERT_GE(reference["prompts"].size(), 10u);
  for (const auto& p : reference["prompts"]) {
    const std::string text = p["text"];
    EXPECT_EQ(t.encode(text), p["ids"].get<std::vector<int>>()) << text;
  }
  // diffusers' padded input for the first prompt: start, ids, end, then the end token as pad.
  const std::vector<int> padded = t.encode_padded(reference["prompts"][0]["text"]);
  ASSERT_EQ(padded.size(), 77u);
  EXPECT_EQ(padded[0], 49406);
  EXPECT_EQ(padded[1], 320);  // "a"
  EXPECT_EQ(padded[9], 49407);
  EXPECT_EQ(padded[76], 49407);
}

void expect_parsed(const std::string& prompt, const std::vector<WeightedText>& want) {
  const auto got = parse_prompt_attention(prompt);
  ASSERT_EQ(got.size(), want.size()) << prompt;
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].text, want[i].text) << prompt << " #" << i;
    EXPECT_NEAR(got[i].weight, want[i].weight, 1e-12) << prompt << " #" << i;
  }
}

// The examples in the docstring of A1111's modules/prompt_parser.py.
TEST(PromptSyntax, MatchesA1111sDocumentedExamples) {
  expect_parsed("normal text", {{"normal text", 1.0}});
  expect_parsed("an (important) word", {{"an ", 1.0}, {"important", 1.1}, {" word", 1.0}});
  expect_parsed("(unbalanced", {{"unbalanced", 1.1}});
  expect_parsed("\\(literal\\]", {{"(literal]", 1.0}});
  expect_parsed("(unnecessary)(parens)", {{"unnecessaryparens", 1.1}});
  expect_parsed("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                {{"a ", 1.0},
                 {"house", 1.5730000000000004},
                 {" ", 1.1},
                 {"on", 1.0},
                 {" a ", 1.1},
                 {"hill", 0.55},
                 {", sun, ", 1.1},
                 {"sky", 1.4641000000000006},
                 {".", 1.1}});
}

TEST(PromptSyntax, BreakAndStrayCharactersAreHandledAsA1111Does) {
  expect_parsed("a cat BREAK a dog", {{"a cat", 1.0}, {"BREAK", -1}, {"a dog", 1.0}});
  expect_parsed("BREAKFAST", {{"BREAKFAST", 1.0}});
  expect_parsed("x:1.2) y] z:", {{"x:1.2) y] z:", 1.0}});
  expect_parsed("(a:1.2.3)", {{"a:1.2.3", 1.1}});
  expect_parsed("", {{"", 1.0}});
}

// A tokenizer whose every character is one token: 256 byte characters, the same with "</w>",
// no merges.
ClipTokenizer character_tokenizer() {
  std::unordered_map<std::string, int> vocab;
  for (int c = 'a'; c <= 'z'; ++c) {
    vocab[std::string(1, static_cast<char>(c))] = static_cast<int>(vocab.size());
    vocab[std::string(1, static_cast<char>(c)) + "</w>"] = static_cast<int>(vocab.size());
  }
  vocab[",</w>"] = static_cast<int>(vocab.size());
  vocab["<|startoftext|>"] = static_cast<int>(vocab.size());
  vocab["<|endoftext|>"] = static_cast<int>(vocab.size());
  return ClipTokenizer(vocab, {});
}

TEST(PromptSyntax, LongPromptsAreChunkedBy75WithCommaBacktracking) {
  const ClipTokenizer t = character_tokenizer();
  // 70 one-letter words, a comma, then 10 more: 81 tokens. The chunk fills at 75 within 20
  // tokens of the comma, so the words after the comma move to the second chunk.
  std::string prompt;
  for (int i = 0; i < 70; ++i) prompt += "a ";
  prompt += ", ";
  for (int i = 0; i < 10; ++i) prompt += "(b) ";
  const auto chunks = tokenize_prompt(t, prompt);
  ASSERT_EQ(chunks.tokens.size(), 2u);
  for (const auto& c : chunks.tokens) {
    ASSERT_EQ(c.size(), 77u);
    EXPECT_EQ(c.front(), t.bos());
    EXPECT_EQ(c.back(), t.eos());
  }
  const int a = t.id_of("a</w>"), b = t.id_of("b</w>"), comma = t.id_of(",</w>");
  EXPECT_EQ(chunks.tokens[0][70], a);
  EXPECT_EQ(chunks.tokens[0][71], comma);
  EXPECT_EQ(chunks.tokens[0][72], t.pad());  // the rest of chunk 1 padded
  EXPECT_EQ(chunks.tokens[1][1], b);
  EXPECT_NEAR(chunks.weights[1][1], 1.1, 1e-6);
  EXPECT_EQ(chunks.tokens[1][11], t.pad());
  EXPECT_EQ(chunks.token_count, 75 + 10);
  // BREAK ends a chunk early.
  const auto broken = tokenize_prompt(t, "a BREAK b");
  ASSERT_EQ(broken.tokens.size(), 2u);
  EXPECT_EQ(broken.tokens[0][1], a);
  EXPECT_EQ(broken.tokens[0][2], t.pad());
  EXPECT_EQ(broken.tokens[1][1], b);
}

}  // namespace
