#include "devices/cpu/ops/weight_packing.hpp"

#include <functional>
#include <string>
#include <string_view>

#include "base/mapped_file.hpp"
#include "devices/cpu/onednn_util.hpp"

namespace sinter::cpu {

namespace {

struct Entry {
  dnnl::memory::desc packed_md;
  std::shared_ptr<const PackedWeights> weights;
};

std::shared_ptr<const PackedWeights> pack(const dnnl::memory::desc& plain_md, const void* plain,
                                          const dnnl::memory::desc& packed_md) {
  auto w = std::make_shared<PackedWeights>();
  w->memory = dnnl::memory(packed_md, onednn::engine());
  dnnl::memory from(plain_md, onednn::engine(), const_cast<void*>(plain));
  dnnl::stream stream(onednn::engine());
  dnnl::reorder(from, w->memory).execute(stream, from, w->memory);
  stream.wait();
  return w;
}

}  // namespace

std::shared_ptr<const PackedWeights> packed_weights(const OpContext& ctx, std::size_t input,
                                                    const dnnl::memory::desc& plain_md,
                                                    const void* plain,
                                                    const dnnl::memory::desc& packed_md) {
  const bool constant = ctx.input_is_constant(input);
  if (!ctx.cache() || !constant) return pack(plain_md, plain, packed_md);
  // Keyed by the layout's bytes (oneDNN's descriptor is plain data), checked for equality on
  // use: a hash collision packs afresh instead of reading the wrong layout.
  const std::string_view bytes(reinterpret_cast<const char*>(&packed_md.data),
                               sizeof packed_md.data);
  const std::string key = "packed weights " + std::to_string(input) + " " +
                          std::to_string(std::hash<std::string_view>()(bytes));
  const auto entry = ctx.cache()->get_or_make<Entry>(key, [&] {
    auto e = std::make_shared<Entry>();
    e->packed_md = packed_md;
    e->weights = pack(plain_md, plain, packed_md);
    // The packed copy is what runs from now on: weights mapped from the model cache need not
    // stay resident too (read again from the file should another layout be needed).
    MappedFile::release_pages(plain, plain_md.get_size());
    return std::shared_ptr<const Entry>(std::move(e));
  });
  if (!(entry->packed_md == packed_md)) return pack(plain_md, plain, packed_md);
  return entry->weights;
}

}  // namespace sinter::cpu
