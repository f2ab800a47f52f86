// Constant weights in the layout a oneDNN primitive reads them in, made once per node and
// layout: every input shape whose primitive wants the same layout (a new batch size or image
// size, usually) shares the copy instead of packing its own, so a change of resolution costs no
// second set of weights (SD 1.5's UNet: 3.3 GB).
//
// With the `weights` setting at f16 or int8 the copy is kept compressed in the packed layout
// (IEEE half; or int8 with one scale per output channel, max |w| / 127) and widened to f32 into
// per-thread scratch on each run of the node, one layer at a time: the weights take a half or a
// quarter of the memory for the time of one conversion per layer and run.
#pragma once

#include <dnnl.hpp>

#include <memory>
#include <string>
#include <vector>

#include "devices/cpu/op_context.hpp"
#include "devices/cpu/packed_weight_store.hpp"

namespace sinter::cpu {

enum class WeightStorage { f32, f16, int8 };

// "f32", "f16", "int8" (the node attribute weight_storage that mark_weight_storage sets).
WeightStorage weight_storage_of(const OpContext& ctx);

// Where a weight tensor's output channels lie: `outer` leading elements over which they repeat
// (matrix products: the rows K), `channels`, and `inner` contiguous elements each (convolutions:
// I x kH x kW). plain[(o * channels + c) * inner + i].
struct ChannelGeometry {
  int64_t outer = 1, channels = 1, inner = 1;
  int mask = 1;  // oneDNN's scales mask: which logical dimensions the channels are
};

class PackedWeights {
 public:
  // The weights as the primitive reads them on this run: the packed f32 copy itself, or (when
  // compressed) `holder`'s memory with the widened copy, valid while holder lives.
  dnnl::memory for_run(Tensor& holder) const;
  // The bytes of the packed copy as kept (f32 or bf16, the codes, or the copy's halves): what a
  // blob of the packed-weight store holds.
  std::size_t kept_packed_bytes() const;
  const void* kept_packed_data() const;
  // Whether they were mapped from the packed-weight store (not packed by this process).
  bool mapped() const { return blob_ != nullptr; }

 private:
  friend std::shared_ptr<const PackedWeights> pack_weights(const dnnl::memory::desc&, const void*,
                                                           const dnnl::memory::desc&, WeightStorage,
                                                           const ChannelGeometry&,
                                                           const std::vector<float>&);
  friend std::shared_ptr<const PackedWeights> adopt_packed(std::shared_ptr<const PackedBlob>,
                                                           const dnnl::memory::desc&,
                                                           const dnnl::memory::desc&,
                                                           const ChannelGeometry&,
                                                           const std::vector<float>&);
  WeightStorage storage_ = WeightStorage::f32;
  dnnl::memory::desc packed_md_;
  std::shared_ptr<const PackedBlob> blob_;  // the mapping memory_ lies in, where it lies in one
  std::unique_ptr<void, void (*)(void*)> owned_{nullptr, nullptr};  // or the block it lies in
  dnnl::memory memory_;         // f32 (or bf16): the packed copy; s8: the codes
  std::vector<uint16_t> half_;  // f16: the packed copy's elements in the same order, unless mapped
  const uint16_t* halves() const;              // f16: half_, or the blob's
  std::shared_ptr<dnnl::reorder> dequantize_;  // int8: codes times their channel's scale
};

// PackedWeights over a sealed blob of the packed-weight store: the packed copy in packed_md, or
// (payload_md s8) the codes, widened with `code_scales` on each run.
std::shared_ptr<const PackedWeights> adopt_packed(std::shared_ptr<const PackedBlob> blob,
                                                  const dnnl::memory::desc& payload_md,
                                                  const dnnl::memory::desc& packed_md,
                                                  const ChannelGeometry& channels,
                                                  const std::vector<float>& code_scales);

// Packs `plain` (layout plain_md) into packed_md, kept as `storage` says (f32 where packed_md is
// not f32: bf16 weights are already half). `channels` is needed for int8 only.
//
// Where plain_md is s8 the plain weights are a model's int8 codes with `code_scales` per output
// channel (int8_weights.hpp): they are packed as codes and kept int8 whatever `storage` says,
// widened into packed_md's type with their scales on each run. Should oneDNN have no reorder for
// that layout, they are widened once here and packed as f32 weights instead.
std::shared_ptr<const PackedWeights> pack_weights(const dnnl::memory::desc& plain_md,
                                                  const void* plain,
                                                  const dnnl::memory::desc& packed_md,
                                                  WeightStorage storage,
                                                  const ChannelGeometry& channels,
                                                  const std::vector<float>& code_scales = {});

// The packed copy of input `input` (constant weights `plain` in the layout `plain_md`) in the
// layout `packed_md`, stored as the node's weight_storage says: from the node's cache when an
// earlier shape made it, else packed now. Pages of weights mapped from the model cache are given
// back once copied. int8 codes come with their scales (pack_weights). Where the node's cache
// has a packed-weight store, f32 (and bf16) copies and int8 codes are mapped from it when an
// earlier process packed them, else packed into it for the next one.
std::shared_ptr<const PackedWeights> packed_weights(const OpContext& ctx, std::size_t input,
                                                    const dnnl::memory::desc& plain_md,
                                                    const void* plain,
                                                    const dnnl::memory::desc& packed_md,
                                                    const ChannelGeometry& channels,
                                                    const std::vector<float>& code_scales = {});

// The scales of a node's int8 weights (attribute weight_scales, one per output channel), checked
// against `channels`; empty for f32 weights. Fails the node on an int8 tensor without them.
std::vector<float> int8_weight_scales(const OpContext& ctx, const Tensor& weights,
                                      int64_t channels);

// int8 codes times their output channel's scale, in f32 (for kernels that read plain weights).
std::vector<float> widened_codes(const int8_t* codes, const std::vector<float>& scales,
                                 const ChannelGeometry& channels);

}  // namespace sinter::cpu
