#pragma once
// Building blocks shared by the zoo's architectures, written the way PyTorch's ONNX exporter
// spells them (e.g. GroupNorm as Reshape + InstanceNormalization, GELU through Erf).

#include <string>

#include "model_builder.hpp"

namespace zoo {

struct ConvSpec {
  int64_t in = 0, out = 0, kernel = 1, stride = 1, group = 1;
  bool bias = true;
};

std::string conv(ModelBuilder& b, const std::string& x, const ConvSpec& spec);
std::string batch_norm(ModelBuilder& b, const std::string& x, int64_t channels);
std::string relu(ModelBuilder& b, const std::string& x);
std::string silu(ModelBuilder& b, const std::string& x);        // x * sigmoid(x)
std::string gelu_erf(ModelBuilder& b, const std::string& x);    // exact GELU via Erf
std::string quick_gelu(ModelBuilder& b, const std::string& x);  // x * sigmoid(1.702 x)
std::string hard_swish(ModelBuilder& b, const std::string& x);

// x[..., in] @ W[in, out] + bias.
std::string linear(ModelBuilder& b, const std::string& x, int64_t in, int64_t out,
                   bool bias = true);
std::string layer_norm(ModelBuilder& b, const std::string& x, int64_t dim);
// GroupNorm on NCHW as exported by PyTorch: Reshape to [N, groups, -1], InstanceNormalization,
// reshape back, per-channel scale and shift.
std::string group_norm(ModelBuilder& b, const std::string& x, int64_t channels, int64_t groups);

// Multi-head attention of `query_in` [B, S, dim] over `kv_in` [B, T, kv_dim]; `mask` (optional)
// is added to the [B, heads, S, T] scores before Softmax.
std::string attention(ModelBuilder& b, const std::string& query_in, const std::string& kv_in,
                      int64_t dim, int64_t kv_dim, int64_t heads, const std::string& mask = "");

// NCHW <-> [N, H*W, C] for attention over image positions.
std::string image_to_sequence(ModelBuilder& b, const std::string& x);
std::string sequence_to_image(ModelBuilder& b, const std::string& x, int64_t channels,
                              int64_t height, int64_t width);
// The same back to the shape of `image` (same channels), at whatever size it has.
std::string sequence_to_image_like(ModelBuilder& b, const std::string& x, const std::string& image);

// A transformer encoder layer (multi-head self-attention and an MLP) as BERT, ViT and CLIP
// export it.
struct EncoderSpec {
  int64_t dim, heads, mlp;
  bool pre_norm;    // ViT/CLIP normalise before each sub-layer, BERT after
  bool quick_gelu;  // CLIP's x * sigmoid(1.702 x) instead of the exact GELU
};
std::string encoder_layer(ModelBuilder& b, std::string x, const EncoderSpec& s,
                          const std::string& mask);
// Rows of an embedding table, looked up the way exporters write it (Gather on axis 0).
std::string embed(ModelBuilder& b, const std::string& ids, int64_t rows, int64_t dim);

}  // namespace zoo
