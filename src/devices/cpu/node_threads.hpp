// Which nodes run on the calling thread alone. Handing a node's work to the OpenMP team and
// waiting for it costs microseconds per parallel region (more on virtual machines, where waking
// a thread is a hypervisor call); a node with less work than that runs faster on one thread.
// Models of many small nodes (voice activity detectors, keyword spotters, small classifiers)
// ran 1.2-2.5 times slower on 2 threads than on 1 before this rule (Silero VAD 0.84 vs 0.34 ms);
// large nodes keep the whole team. The work is estimated from the input sizes when the node
// runs, so the same rule holds for every shape.
#pragma once

#include <vector>

#include "ir/graph.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu {

// Whether `node` with these inputs (nullptr: absent) is small enough to run on one thread.
// Nodes with subgraphs are never (their bodies' nodes decide for themselves).
bool runs_alone(const ir::Node& node, const std::vector<const Value*>& inputs);

}  // namespace sinter::cpu
