// Human reports shared by `run --report` and `bench --profile`: where each part of the model ran
// and which nodes took the time.
#pragma once

#include <vector>

#include "sinter/sinter.hpp"

namespace sinter_cli {

// "placement: CPU 176 nodes (oneDNN convolution 53, C++ kernel 122, oneDNN sgemm 1)"
void print_placement(const sinter::CompiledModel& compiled);
// Per-device busy time and the `top` slowest nodes; `nodes` carry times in ms (per inference).
void print_profile(const std::vector<sinter::NodeReport>& nodes, double inference_ms, int top = 10);

}  // namespace sinter_cli
