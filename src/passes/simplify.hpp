// Small structural clean-ups: nodes that pass their input through, and nodes and constants
// nothing reads.
#pragma once

#include "ir/graph.hpp"

namespace sinter::passes {

// Identity, and Dropout in inference (no mask asked for, training_mode not given), are removed
// and their readers read the input directly. A pass-through whose output is a graph output is
// kept when its input is a graph input or constant (the output needs a producer). Returns the
// number removed.
int remove_pass_through_nodes(ir::Graph& graph);

// Removes nodes none of whose outputs are read or are graph outputs (ONNX ops have no side
// effects), repeatedly, then constants nothing reads. Returns the number of nodes removed.
int remove_dead_nodes(ir::Graph& graph);

}  // namespace sinter::passes
