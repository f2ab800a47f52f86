// Which f32 convolutions compute with Winograd's minimal filtering (attribute winograd = 1 on the
// FusedConv, read by its kernel and shown in profiles as "oneDNN Winograd convolution"): decided
// at compile time from the shapes, by winograd_pays (ops/conv_descriptor.cpp), so that what a
// profile reports is what runs. Convolutions of unknown shape (dynamic inputs, until specialised)
// and those computing in bf16 stay direct.
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

int mark_winograd_convolutions(ir::Graph& graph, const ir::ShapeInference& shapes);

}  // namespace sinter::cpu
