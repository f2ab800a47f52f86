// --precision bf16 on the CPU: which nodes compute in bf16 and which values pass between them in
// bf16.
//
// Convolutions and matrix products with constant weights (FusedConv, FusedMatMul) read bf16
// inputs and weights and accumulate in f32 (attribute compute_bf16), except convolutions
// already marked for Winograd in f32 (winograd_marking.hpp: faster there); everything else,
// normalisation and softmax included, stays f32. Grouped (depthwise) convolutions move more
// bytes than they multiply: converting an f32 input for them costs more than bf16 saves, so they
// compute in bf16 only where a bf16 convolution makes their input for convolutions alone (then
// it arrives in bf16, below, at no cost: MobileNet's expand -> depthwise pairs).
//
// A bf16 node rounds its input to bf16 anyway, so a value whose every reader is a bf16 node of
// the same kind reading it as its data input is stored in bf16 right away (dst_bf16 on the
// producer, src_bf16 on the readers): the same numbers, without a conversion pass before every
// reader and with half the bytes. Values that are also a residual (sum) input, graph outputs or
// read by anything else stay f32.
#pragma once

#include "ir/graph.hpp"

namespace sinter::cpu {

struct Bf16Marking {
  int nodes = 0;   // nodes computing in bf16
  int values = 0;  // values stored in bf16 between them
};

Bf16Marking mark_bf16(ir::Graph& graph);

}  // namespace sinter::cpu
