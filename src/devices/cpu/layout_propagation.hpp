// Which values the CPU device keeps in the layout its convolutions compute in, instead of plain
// NCHW, saving two reorders per value. That layout is onednn::preferred_conv_layout():
// channels-last (NHWC) on CPUs where oneDNN's brgemm kernels run, channel-blocked nChw16c /
// nChw8c on older ones.
//
// Kept are values made by a FusedConv (or by a channel scale, below) whose every reader takes
// them in that layout:
//   - FusedConv, as data or residual input (attributes src_layout, dst_layout, residual_layout);
//   - MaxPool / AveragePool where oneDNN pools them (any layout), rewritten into the internal ops
//     of those names, whose output has the input's layout (attribute layout);
//   - with channels-last only: GlobalAveragePool, rewritten into the internal op of that name
//     that averages NHWC rows, and Mul(x, s) with s one value per channel (and sample), as in
//     squeeze-and-excitation blocks, rewritten into the internal ChannelScale, whose output
//     stays channels-last (and is kept only where its own readers take it); likewise the
//     fused GroupNorm and SqueezeExcite.
// Only where the layout takes no padding (channels a multiple of the block), the shape is known
// and the value is not a graph output.
#pragma once

#include <string>

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

// Returns the number of values kept. `shapes` are those of the graph before the CPU's rewrites
// (its internal ops have no shape rules; fused nodes keep the output names they replace).
int keep_conv_layouts(ir::Graph& graph, const std::string& layout,
                      const ir::ShapeInference& shapes);

}  // namespace sinter::cpu
