// The CPU's plan of a run's intermediate values, made on the graph its rewrites leave
// (cpu_pipeline.hpp) rather than on the model's: a fused attention never makes the score
// matrix the model's MatMul -> Softmax -> MatMul computes (SD 1.5's UNet at 512x512: 2 GiB of
// scores planned, 160 MiB of values measured), fused activations and norms no intermediate
// steps. The sizes come from the model's shape inference (fused nodes keep the output names of
// the nodes they replace); a value the rewrites added (a plain copy of a value kept in the
// convolutions' layout, a view) is sized as the node's first input of known size.
//
//   const ir::ActivationEstimate a = cpu::plan_activations(graph, choices, {{"x", {1, 3, 224,
//   224}}});
#pragma once

#include <map>
#include <string>

#include "devices/cpu/cpu_pipeline.hpp"
#include "ir/activation_estimate.hpp"

namespace sinter::cpu {

ir::ActivationEstimate plan_activations(const ir::Graph& graph, const CpuChoices& choices,
                                        const std::map<std::string, Shape>& input_shapes);

}  // namespace sinter::cpu
