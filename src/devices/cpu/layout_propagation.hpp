// Which values the CPU device keeps in the layout its convolutions compute in, instead of plain
// NCHW, saving two reorders per value. That layout is onednn::preferred_conv_layout():
// channels-last (NHWC) on CPUs where oneDNN's brgemm kernels run, channel-blocked nChw16c /
// nChw8c on older ones.
//
// Kept are values made by a FusedConv (or by one of the ops below whose layout inputs are kept)
// that at least one reader takes in that layout:
//   - FusedConv, as data or residual input (attributes src_layout, dst_layout, residual_layout);
//   - MaxPool / AveragePool where oneDNN pools them (any layout), rewritten into the internal ops
//     of those names, whose output has the input's layout (attribute layout); likewise Concat
//     along the channels of kept values (a oneDNN concat);
//   - with channels-last only, also Resize by whole factors with nearest neighbours as PyTorch
//     exports it, rewritten into the internal op of that name (attribute factors);
//   - with channels-last only: GlobalAveragePool, rewritten into the internal op of that name
//     that averages NHWC rows; Mul(x, s) / Add(x, s) with s one value per channel (and sample),
//     as in squeeze-and-excitation blocks, rewritten into the internal ChannelScale /
//     ChannelShift; the fused GroupNorm, SqueezeExcite and ChannelLayerNorm; Add / Sub / Mul /
//     Div of two kept values of the same shape (elementwise, so left as they are); and views of
//     the same memory: an image as transformer tokens (Reshape + Transpose, ChannelsLastTokens),
//     a Transpose moving the channels last (ConvNeXt's permute to NHWC, also ChannelsLastTokens
//     with a shape), and their reverses (TokensAsChannelsLast). Those ops keep their output in
//     the layout only where it is kept itself.
// Readers that take only plain NCHW (any other op) read one plain copy of the value, made right
// after its producer (LayoutToPlain): a reorder at the boundary instead of giving up the layout
// for every reader. A value read inside a subgraph is not kept. Only where the layout takes no
// padding (channels a multiple of the block), the shape is known and the value is not a graph
// output.
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
