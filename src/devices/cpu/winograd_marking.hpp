// Which f32 convolutions compute with Winograd's minimal filtering (attribute winograd = 1 on the
// FusedConv, read by its kernel and shown in profiles as "oneDNN Winograd convolution"): decided
// at compile time from the shapes, by winograd_pays (ops/conv_descriptor.cpp), so that what a
// profile reports is what runs. Convolutions of unknown shape (dynamic inputs, until specialised)
// and those computing in bf16 stay direct.
//
// With `before_bf16` (--precision bf16, marked before mark_bf16, which leaves Winograd
// convolutions in f32), only where Winograd's f32 kernel also beats the bf16 direct one
// (winograd_beats_bf16): on 2 Zen 5 cores it took 0.57-1.0 of the bf16 time over 4096 output
// pixels (SD's VAE decoder and the UNet's 64x64 levels), 1.3-1.5 on smaller images.
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

int mark_winograd_convolutions(ir::Graph& graph, const ir::ShapeInference& shapes,
                               bool before_bf16 = false);

}  // namespace sinter::cpu
