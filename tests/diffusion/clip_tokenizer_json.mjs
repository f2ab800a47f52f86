// CLIP's tokenizer.json as Hugging Face publishes it (openai/clip-vit-large-patch14): NFC,
// whitespace runs to one space, lower case; CLIP's split pattern, byte-level characters; BPE
// with "</w>" ending words. Shared by the tests that run Hugging Face's tokenizer on a
// vocabulary and merges list.
export function clipTokenizerJson(vocab, merges) {
  const added = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false,
    normalized: true, special: true });
  const bos = vocab["<|startoftext|>"], eos = vocab["<|endoftext|>"];
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [added(bos, "<|startoftext|>"), added(eos, "<|endoftext|>")],
    normalizer: { type: "Sequence", normalizers: [{ type: "NFC" },
      { type: "Replace", pattern: { Regex: "\\s+" }, content: " " }, { type: "Lowercase" }] },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
        behavior: "Removed", invert: true },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: { type: "RobertaProcessing", sep: ["<|endoftext|>", eos], cls: ["<|startoftext|>", bos],
      trim_offsets: false, add_prefix_space: false },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: "<|endoftext|>", continuing_subword_prefix: "",
      end_of_word_suffix: "</w>", fuse_unk: false, vocab, merges },
  };
}
