#pragma once
// Shared by the zoo's pipelines (sd-tiny, sd15): the tokenizer, a CLIP-style text encoder and
// the diffusers folder's configs (model_index.json, SD 1.5's scheduler, the VAE's scaling).

#include <cstdint>
#include <filesystem>

#include "model_builder.hpp"

namespace zoo {

// tokenizer/: vocab.json, merges.txt and configs; returns the vocabulary size.
int64_t write_bpe_tokenizer(const std::filesystem::path& dir);

struct ClipTextSpec {
  int64_t vocab, dim, heads, layers;
  uint64_t seed;
};
// text_encoder/model.onnx: int32 input_ids [batch, 77] -> last_hidden_state, pooler_output
// (CLIP's causal pre-norm encoder with quick GELU; external data from 512 wide).
void build_clip_text_encoder(const std::filesystem::path& dir, const ClipTextSpec& spec);

// model_index.json, scheduler/scheduler_config.json (SD 1.5's), vae_*/config.json.
void write_pipeline_configs(const std::filesystem::path& dir);

}  // namespace zoo
