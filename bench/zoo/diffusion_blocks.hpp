#pragma once
// The blocks of Stable Diffusion's UNet and VAE (GroupNorm with 32 groups throughout), shared by
// the zoo's single networks and its pipelines.

#include <string>

#include "model_builder.hpp"

namespace zoo {

std::string conv3(ModelBuilder& b, const std::string& x, int64_t in, int64_t out);
// GroupNorm -> SiLU -> Conv, twice, with the time embedding added in between when given.
std::string res_block(ModelBuilder& b, const std::string& x, int64_t in, int64_t out,
                      const std::string& temb = "", int64_t temb_dim = 0);
// Self-attention, cross-attention to the text context and a GELU MLP over image positions of
// a size x size image (size 0: any size, reshaped back to the input's own shape).
std::string spatial_transformer(ModelBuilder& b, const std::string& x, int64_t c, int64_t size,
                                const std::string& context, int64_t context_dim);
// Stable Diffusion 1.x's transformer block at full fidelity: GroupNorm, 1x1 projection in,
// self-attention, cross-attention to the context and a GEGLU feed-forward (8c split into value
// and gate), each with LayerNorm and a residual, 1x1 projection out; `heads` heads, any size.
std::string sd_transformer(ModelBuilder& b, const std::string& x, int64_t c, int64_t heads,
                           const std::string& context, int64_t context_dim);
// Nearest-neighbour 2x upsampling as PyTorch exports F.interpolate, then a 3x3 convolution.
std::string upsample(ModelBuilder& b, const std::string& x, int64_t c);
// Sinusoidal embedding of the timestep [1] followed by a two-layer MLP.
std::string timestep_embedding(ModelBuilder& b, const std::string& t, int64_t half, int64_t dim);

}  // namespace zoo
