// No reference kernels: every FusedConv and FusedMatMul of known shape asks oneDNN at compile
// time which implementation its primitive gets (the same descriptor its kernel makes) and
// records it (attribute onednn_impl, shown in placements and profiles). Where oneDNN would run
// its reference implementation — correct, but 10 to 1000 times slower, as for a convolution
// with a swish then a sum post-op on AVX2 CPUs, which oneDNN 2.6's JIT kernels do not take —
// the post-ops are shortened until a JIT kernel takes them, and the ones left over run as
// nodes of their own after it (Add for the sum, the activation's op for the others). A node
// whose bare primitive is already the reference one is left as it is (its placement says so).
#pragma once

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::cpu {

// Returns the number of fused nodes whose post-ops were split off.
int avoid_reference_kernels(ir::Graph& graph, const ir::ShapeInference& shapes);

}  // namespace sinter::cpu
