// CLIP's byte-level BPE tokenizer, equal to Hugging Face's CLIPTokenizer(Fast) on a diffusers
// `tokenizer/` folder (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json):
// NFC, whitespace runs to one space, lower case; CLIP's split pattern (special tokens,
// contractions, runs of letters, single digits, runs of other symbols); each piece's UTF-8 bytes
// as GPT-2's printable byte characters; merges by rank with "</w>" closing each word.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace sinter::diffusion {

class ClipTokenizer {
 public:
  // Throws std::runtime_error naming the file when one is missing or malformed.
  static ClipTokenizer load(const std::filesystem::path& folder);
  ClipTokenizer(std::unordered_map<std::string, int> vocab,
                const std::vector<std::pair<std::string, std::string>>& merges);

  // The ids of `text` without the start and end tokens, untruncated.
  std::vector<int> encode(const std::string& text) const;
  // As the folder's tokenizer would encode a prompt for the text encoder: start token, the
  // ids cut to max_length - 2, end token, padded to max_length with the pad token.
  std::vector<int> encode_padded(const std::string& text) const;

  int bos() const { return bos_; }
  int eos() const { return eos_; }
  int pad() const { return pad_; }
  int max_length() const { return max_length_; }
  // The id of a token ("," + "</w>" for a comma), or -1.
  int id_of(const std::string& token) const;
  std::size_t vocab_size() const { return vocab_.size(); }

 private:
  std::vector<int> bpe(const std::string& piece) const;

  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<std::string, int> merge_ranks_;  // "first second" -> rank
  std::string byte_chars_[256];                       // byte -> its printable character (UTF-8)
  int bos_ = -1, eos_ = -1, pad_ = -1, unk_ = -1;
  int max_length_ = 77;
};

}  // namespace sinter::diffusion
