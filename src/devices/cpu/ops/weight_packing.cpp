#include "devices/cpu/ops/weight_packing.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "base/large_blocks.hpp"
#include "base/mapped_file.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"

namespace sinter::cpu {

namespace {

using dt = dnnl::memory::data_type;

constexpr int64_t kChunk = 1 << 16;  // elements per task of the conversions

// convert(first, count) over [0, n) in chunks of kChunk, split across the OpenMP team.
template <typename Convert>
void in_chunks(int64_t n, Convert&& convert) {
  parallel_for((n + kChunk - 1) / kChunk, n > kChunk,
               [&](int64_t t) { convert(t * kChunk, std::min(kChunk, n - t * kChunk)); });
}

dnnl::memory::desc with_type(const dnnl::memory::desc& md, dt type) {
  dnnl_memory_desc_t d = md.data;
  d.data_type = static_cast<dnnl_data_type_t>(type);
  return dnnl::memory::desc(d);
}

void run_reorder(const dnnl::reorder& r, const dnnl::memory& from, const dnnl::memory& to) {
  dnnl::stream stream(onednn::engine());
  r.execute(stream, const_cast<dnnl::memory&>(from), const_cast<dnnl::memory&>(to));
  stream.wait();
}

// The reorder that widens int8 codes in codes_md into packed_md, each times its channel's scale.
std::shared_ptr<dnnl::reorder> dequantizer(const dnnl::memory::desc& codes_md,
                                           const dnnl::memory::desc& packed_md, int mask,
                                           const std::vector<float>& scales) {
  dnnl::primitive_attr attr;
  attr.set_output_scales(mask, scales);
  return std::make_shared<dnnl::reorder>(
      dnnl::reorder::primitive_desc(onednn::engine(), codes_md, onednn::engine(), packed_md, attr));
}

// max |w| / 127 per output channel (1 for an all-zero channel, whose codes are all 0 anyway).
std::vector<float> channel_scales(const float* w, const ChannelGeometry& g) {
  std::vector<float> largest(static_cast<std::size_t>(g.channels), 0.0f);
  for (int64_t o = 0; o < g.outer; ++o)
    for (int64_t c = 0; c < g.channels; ++c) {
      const float* p = w + (o * g.channels + c) * g.inner;
      float m = largest[c];
      for (int64_t i = 0; i < g.inner; ++i) m = std::max(m, std::fabs(p[i]));
      largest[c] = m;
    }
  for (float& s : largest) s = s > 0 && std::isfinite(s) ? s / 127.0f : 1.0f;
  return largest;
}

struct Entry {
  dnnl::memory::desc packed_md;
  std::shared_ptr<const PackedWeights> weights;
};

}  // namespace

WeightStorage weight_storage_of(const OpContext& ctx) {
  const std::string s = ctx.attr_s("weight_storage", "f32");
  if (s == "f16") return WeightStorage::f16;
  if (s == "int8") return WeightStorage::int8;
  ctx.check(s == "f32", "weight_storage '{}' is not f32, f16 or int8", s);
  return WeightStorage::f32;
}

std::vector<float> int8_weight_scales(const OpContext& ctx, const Tensor& weights,
                                      int64_t channels) {
  if (weights.element_type() != ElementType::i8) return {};
  std::vector<float> scales = ctx.attr_floats("weight_scales");
  ctx.check(static_cast<int64_t>(scales.size()) == channels,
            "int8 weights need {} scales (attribute weight_scales), got {}", channels,
            scales.size());
  return scales;
}

std::vector<float> widened_codes(const int8_t* codes, const std::vector<float>& scales,
                                 const ChannelGeometry& g) {
  std::vector<float> w(static_cast<std::size_t>(g.outer * g.channels * g.inner));
  for (int64_t o = 0; o < g.outer; ++o)
    for (int64_t c = 0; c < g.channels; ++c)
      for (int64_t i = 0; i < g.inner; ++i) {
        const int64_t at = (o * g.channels + c) * g.inner + i;
        w[static_cast<std::size_t>(at)] = static_cast<float>(codes[at]) * scales[c];
      }
  return w;
}

std::shared_ptr<const PackedWeights> pack_weights(
    const dnnl::memory::desc& plain_md, const void* plain, const dnnl::memory::desc& packed_md,
    WeightStorage storage, const ChannelGeometry& channels, const std::vector<float>& code_scales) {
  auto w = std::make_shared<PackedWeights>();
  w->packed_md_ = packed_md;
  // The packed copy in a block of w's own: SD 1.5's UNet packed on a first run (3.3 GB) faults
  // in 2 MiB at a time, not in the 4 KiB pages of oneDNN's allocator (large_blocks.hpp).
  auto owned_memory = [&w](const dnnl::memory::desc& md) {
    w->owned_ = {allocate_block(md.get_size()), &std::free};
    if (!w->owned_) throw dnnl::error(dnnl_out_of_memory, "cannot allocate packed weights");
    return dnnl::memory(md, onednn::engine(), w->owned_.get());
  };
  const dnnl::memory from(plain_md, onednn::engine(), const_cast<void*>(plain));
  if (plain_md.data_type() == dt::s8) {
    try {
      const dnnl::memory::desc codes_md = with_type(packed_md, dt::s8);
      w->storage_ = WeightStorage::int8;
      w->dequantize_ = dequantizer(codes_md, packed_md, channels.mask, code_scales);
      w->memory_ = owned_memory(codes_md);
      run_reorder(dnnl::reorder(from, w->memory_), from, w->memory_);
      return w;
    } catch (const dnnl::error&) {
      const std::vector<float> widened =
          widened_codes(static_cast<const int8_t*>(plain), code_scales, channels);
      return pack_weights(with_type(plain_md, dt::f32), widened.data(), packed_md,
                          WeightStorage::f32, channels);
    }
  }
  // Compressed only from f32 to f32: weights a primitive reads in bf16 are half already.
  if (packed_md.data_type() != dt::f32 || plain_md.data_type() != dt::f32)
    storage = WeightStorage::f32;
  w->storage_ = storage;
  if (storage == WeightStorage::int8) {
    const std::vector<float> scales = channel_scales(static_cast<const float*>(plain), channels);
    std::vector<float> inverse(scales.size());
    for (std::size_t c = 0; c < scales.size(); ++c) inverse[c] = 1.0f / scales[c];
    const dnnl::memory::desc codes_md = with_type(packed_md, dt::s8);
    w->memory_ = owned_memory(codes_md);
    dnnl::primitive_attr quantize;  // codes = round(w / scale), saturated to [-128, 127]
    quantize.set_output_scales(channels.mask, inverse);
    run_reorder(dnnl::reorder(dnnl::reorder::primitive_desc(onednn::engine(), plain_md,
                                                            onednn::engine(), codes_md, quantize)),
                from, w->memory_);
    w->dequantize_ = dequantizer(codes_md, packed_md, channels.mask, scales);
    return w;
  }
  if (storage == WeightStorage::f32) {
    w->memory_ = owned_memory(packed_md);
    run_reorder(dnnl::reorder(from, w->memory_), from, w->memory_);
    return w;
  }
  // f16: packed in f32 into the buffer runs widen into (no heap block of every layer's size
  // made and freed), then narrowed in place order (padding included), so that widening them
  // again restores the layout exactly.
  const dnnl::memory packed = onednn::scratch_memory(packed_md, onednn::Scratch::weights);
  run_reorder(dnnl::reorder(from, packed), from, packed);
  const int64_t n = static_cast<int64_t>(packed_md.get_size() / sizeof(float));
  w->half_.resize(static_cast<std::size_t>(n));
  const float* f = static_cast<const float*>(packed.get_data_handle());
  in_chunks(
      n, [&](int64_t i, int64_t count) { vec::narrow_to_half(f + i, w->half_.data() + i, count); });
  return w;
}

std::shared_ptr<const PackedWeights> adopt_packed(std::shared_ptr<const PackedBlob> blob,
                                                  const dnnl::memory::desc& payload_md,
                                                  const dnnl::memory::desc& packed_md,
                                                  const ChannelGeometry& channels,
                                                  const std::vector<float>& code_scales) {
  auto w = std::make_shared<PackedWeights>();
  w->packed_md_ = packed_md;
  // Read-only: oneDNN only reads weights.
  w->memory_ = dnnl::memory(payload_md, onednn::engine(), const_cast<void*>(blob->data()));
  w->blob_ = std::move(blob);
  if (payload_md.data_type() == dt::f16) w->storage_ = WeightStorage::f16;  // widened per run
  if (payload_md.data_type() == dt::s8) {
    w->storage_ = WeightStorage::int8;
    w->dequantize_ = dequantizer(payload_md, packed_md, channels.mask, code_scales);
  }
  return w;
}

const uint16_t* PackedWeights::halves() const {
  return blob_ ? static_cast<const uint16_t*>(blob_->data()) : half_.data();
}

std::size_t PackedWeights::kept_packed_bytes() const {
  if (storage_ == WeightStorage::f16) return packed_md_.get_size() / sizeof(float) * 2;
  return memory_.get_desc().get_size();
}

const void* PackedWeights::kept_packed_data() const {
  if (storage_ == WeightStorage::f16) return halves();
  return memory_.get_data_handle();
}

dnnl::memory PackedWeights::for_run(Tensor& holder) const {
  if (storage_ == WeightStorage::f32) return memory_;
  dnnl::memory widened = onednn::scratch_memory(packed_md_, onednn::Scratch::weights, holder);
  if (storage_ == WeightStorage::int8) {
    run_reorder(*dequantize_, memory_, widened);
    return widened;
  }
  const int64_t n = static_cast<int64_t>(packed_md_.get_size() / sizeof(float));
  float* f = static_cast<float*>(widened.get_data_handle());
  const uint16_t* h = halves();
  in_chunks(n, [&](int64_t i, int64_t count) { vec::widen_half(h + i, f + i, count); });
  return widened;
}

namespace {

// Names what packed bytes depend on, for the packed-weight store: the node and its input, both
// layouts, oneDNN's version, and 16 samples of the plain weights (the store is the model's own,
// so the samples only guard against a blob of another version of it).
std::string blob_key(const OpContext& ctx, std::size_t input, const dnnl::memory::desc& plain_md,
                     const void* plain, const dnnl::memory::desc& packed_md) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const std::string& node = ctx.cache()->node_key();
  XXH3_64bits_update(state, node.data(), node.size());
  XXH3_64bits_update(state, &input, sizeof input);
  XXH3_64bits_update(state, &plain_md.data, sizeof plain_md.data);
  XXH3_64bits_update(state, &packed_md.data, sizeof packed_md.data);
  const dnnl_version_t* v = dnnl_version();
  const int version[3] = {v->major, v->minor, v->patch};
  XXH3_64bits_update(state, version, sizeof version);
  XXH3_64bits_update(state, v->hash, std::strlen(v->hash));
  const std::size_t bytes = plain_md.get_size();
  const auto* p = static_cast<const unsigned char*>(plain);
  constexpr std::size_t kSample = 64;
  for (std::size_t k = 0; k < 16 && bytes >= kSample; ++k)
    XXH3_64bits_update(state, p + (bytes - kSample) / 15 * k, kSample);
  const uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return fmt::format("{:016x}", h);
}

// pack_weights through the node's packed-weight store: mapped from it where an earlier process
// packed the same weights, else packed in memory and queued for it (for the next process).
// Copies kept as packed are stored (f32, bf16, the model's int8 codes) and so are the halves of
// the f16 weights setting (making them packs in f32 first: SD 1.5's UNet took 14 s more to its
// first step than from the store). The int8 setting's codes are not: their scales come from
// the f32 weights, which would have to be read anyway.
std::shared_ptr<const PackedWeights> stored_weights(
    const OpContext& ctx, std::size_t input, const dnnl::memory::desc& plain_md, const void* plain,
    const dnnl::memory::desc& packed_md, WeightStorage storage, const ChannelGeometry& channels,
    const std::vector<float>& code_scales) {
  const PackedWeightStore* store = ctx.cache()->weight_store();
  const bool codes = plain_md.data_type() == dt::s8;
  const bool widened_from_f32 = packed_md.data_type() == dt::f32 && plain_md.data_type() == dt::f32;
  const bool halves = !codes && widened_from_f32 && storage == WeightStorage::f16;
  const bool kept_packed = codes || storage == WeightStorage::f32 || !widened_from_f32 || halves;
  if (!store || !kept_packed)
    return pack_weights(plain_md, plain, packed_md, storage, channels, code_scales);
  const dnnl::memory::desc payload_md = codes    ? with_type(packed_md, dt::s8)
                                        : halves ? with_type(packed_md, dt::f16)
                                                 : packed_md;
  // The halves' key names their type (the f32 copy of the same layout has a blob of its own).
  const std::string key = blob_key(ctx, input, plain_md, plain, halves ? payload_md : packed_md);
  try {
    if (auto blob = store->find(key, payload_md.get_size()))
      return adopt_packed(std::move(blob), payload_md, packed_md, channels, code_scales);
  } catch (const dnnl::error&) {
    // No dequantizing reorder for this layout: packed below, where the fallback decides.
  }
  auto w = pack_weights(plain_md, plain, packed_md, storage, channels, code_scales);
  // Not where the codes were widened instead (their blob would be of the codes' size).
  if (w->kept_packed_bytes() == payload_md.get_size())
    store->write_later(key, w, w->kept_packed_data(), payload_md.get_size());
  return w;
}

}  // namespace

std::shared_ptr<const PackedWeights> packed_weights(const OpContext& ctx, std::size_t input,
                                                    const dnnl::memory::desc& plain_md,
                                                    const void* plain,
                                                    const dnnl::memory::desc& packed_md,
                                                    const ChannelGeometry& channels,
                                                    const std::vector<float>& code_scales) {
  const WeightStorage storage = weight_storage_of(ctx);
  if (!ctx.cache() || !ctx.input_is_constant(input))
    return pack_weights(plain_md, plain, packed_md, storage, channels, code_scales);
  // Keyed by the layout's bytes (oneDNN's descriptor is plain data), checked for equality on
  // use: a hash collision packs afresh instead of reading the wrong layout.
  const std::string_view bytes(reinterpret_cast<const char*>(&packed_md.data),
                               sizeof packed_md.data);
  const std::string key = "packed weights " + std::to_string(input) + " " +
                          std::to_string(std::hash<std::string_view>()(bytes));
  const auto entry = ctx.cache()->get_or_make<Entry>(key, [&] {
    auto e = std::make_shared<Entry>();
    e->packed_md = packed_md;
    e->weights =
        stored_weights(ctx, input, plain_md, plain, packed_md, storage, channels, code_scales);
    // The packed copy is what runs from now on: weights mapped from the model cache need not
    // stay resident too (read again from the file should another layout be needed).
    MappedFile::release_pages(plain, plain_md.get_size());
    // Packing's temporary blocks (the plain f32 layer in the quantizer, oneDNN's reorder
    // buffers) are free again but glibc keeps up to its trim threshold (256 MiB,
    // make_cpu_device) of them: given back here, once per layer and first run, SD 1.5's UNet
    // peaks 200 MiB lower. Where the copy was mapped from the store nothing was packed, and
    // trimming after every layer would mostly hand back heap the activations reuse at once
    // (fresh pages again: 1.2 s of page faults on that UNet's first inference): then after
    // every 32nd layer, which keeps the first inference's peak where it was.
    static std::atomic<unsigned> mapped_layers{0};
    if (!e->weights->mapped() || ++mapped_layers % 32 == 0) malloc_trim(0);
    return std::shared_ptr<const Entry>(std::move(e));
  });
  if (!(entry->packed_md == packed_md))
    return pack_weights(plain_md, plain, packed_md, storage, channels, code_scales);
  return entry->weights;
}

}  // namespace sinter::cpu
