// The CPU device's rewrites of a graph, in order: the device-independent passes, then its own
// fusions, layout propagation and (for bf16) precision marking. Shared by the compile and by the
// per-shape specialisation of graphs whose inputs have dynamic dimensions (cpu_device.cpp).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ir/graph.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu {

struct CpuProgram {
  std::shared_ptr<const ir::Graph> graph;  // nodes' `sources` index the input graph's nodes
  std::string precision;                   // what runs, as CompiledModel::precision says it
  std::string notes;                       // "graph optimisation: ..." ("" when nothing applied)
};

// `precision`: "f32" or "bf16" (checked by the caller). With `input_shapes`, the graph's inputs
// of those names are taken to have exactly those shapes (the result is then valid for them only).
CpuProgram optimize_for_cpu(const ir::Graph& graph, const std::string& precision,
                            const std::map<std::string, Shape>& input_shapes = {});

}  // namespace sinter::cpu
