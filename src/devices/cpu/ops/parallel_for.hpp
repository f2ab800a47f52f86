// Loops over independent iterations, in an OpenMP team only where that pays.
#pragma once

#include <omp.h>

#include <cstdint>

namespace sinter::cpu {

// body(i) for i in [0, n): split across the OpenMP team when `worth_it` and the team has more
// than one thread, else on this thread. Not `#pragma omp parallel for if (...)`: libgomp builds
// a team even for a false `if` or a team of one (a node run alone, node_threads.hpp), about a
// microsecond each time, which was most of the cost of small nodes.
template <typename Body>
void parallel_for(int64_t n, bool worth_it, Body&& body) {
  if (worth_it && n > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace sinter::cpu
