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

// What the user chose for the CPU's arithmetic and weight storage (checked by the caller).
struct CpuChoices {
  std::string precision = "f32";  // f32 or bf16
  std::string weights = "f32";    // f32, f16 or int8 (the packed copies, ops/weight_packing.hpp)
};

// With `input_shapes`, the graph's inputs of those names are taken to have exactly those shapes
// (the result is then valid for them only).
CpuProgram optimize_for_cpu(const ir::Graph& graph, const CpuChoices& choices,
                            const std::map<std::string, Shape>& input_shapes = {});

}  // namespace sinter::cpu
