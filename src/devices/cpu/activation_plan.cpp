#include "devices/cpu/activation_plan.hpp"

#include "ir/shape_inference.hpp"

namespace sinter::cpu {

ir::ActivationEstimate plan_activations(const ir::Graph& graph, const CpuChoices& choices,
                                        const std::map<std::string, Shape>& input_shapes) {
  const CpuProgram program = optimize_for_cpu(graph, choices, input_shapes);
  ir::ShapeInference shapes = ir::infer_shapes(graph, input_shapes);
  for (const ir::Node& n : program.graph->nodes) {
    for (const std::string& out : n.outputs) {
      if (out.empty() || shapes.values.count(out)) continue;
      for (const std::string& in : n.inputs) {
        auto it = shapes.values.find(in);
        if (in.empty() || it == shapes.values.end() || it->second.byte_size() < 0) continue;
        shapes.values[out] = it->second;
        break;
      }
    }
  }
  return ir::estimate_activations(*program.graph, shapes);
}

}  // namespace sinter::cpu
