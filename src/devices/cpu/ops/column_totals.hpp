// Per-channel totals over the rows of a channels-last sample [spatial][C], shared by the
// channels-last GroupNorm and GlobalAveragePool.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace sinter::cpu {

// Column statistics of a channels-last sample [spatial][C] in parallel: rows split between
// threads, each summing runs of kRows rows in float and adding them to its own doubles, the
// threads' totals added at the end. `f` adds one run's contribution to a float row of C.
template <typename F>
std::vector<double> column_totals(int64_t spatial, int64_t channels, F f) {
  constexpr int64_t kRows = 64;
  std::vector<double> total(channels, 0.0);
#pragma omp parallel
  {
    std::vector<double> mine(channels, 0.0);
    std::vector<float> run(channels);
#pragma omp for schedule(static)
    for (int64_t r0 = 0; r0 < spatial; r0 += kRows) {
      std::fill(run.begin(), run.end(), 0.f);
      f(r0, std::min(kRows, spatial - r0), run.data());
      for (int64_t c = 0; c < channels; ++c) mine[c] += run[c];
    }
#pragma omp critical
    for (int64_t c = 0; c < channels; ++c) total[c] += mine[c];
  }
  return total;
}

}  // namespace sinter::cpu
