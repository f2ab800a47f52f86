// Constant weights in the layout a oneDNN primitive reads them in, made once per node and
// layout: every input shape whose primitive wants the same layout (a new batch size or image
// size, usually) shares the copy instead of packing its own, so a change of resolution costs no
// second set of weights (SD 1.5's UNet: 3.3 GB).
#pragma once

#include <dnnl.hpp>

#include <memory>

#include "devices/cpu/op_context.hpp"

namespace sinter::cpu {

struct PackedWeights {
  dnnl::memory memory;  // in the primitive's layout, owning its buffer
};

// The packed copy of input `input` (constant weights `plain` in the layout `plain_md`) in the
// layout `packed_md`: from the node's cache when an earlier shape made it, else reordered now.
// Pages of weights mapped from the model cache are given back once copied.
std::shared_ptr<const PackedWeights> packed_weights(const OpContext& ctx, std::size_t input,
                                                    const dnnl::memory::desc& plain_md,
                                                    const void* plain,
                                                    const dnnl::memory::desc& packed_md);

}  // namespace sinter::cpu
