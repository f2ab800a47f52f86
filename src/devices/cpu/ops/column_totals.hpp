// Loops over the rows of channels-last samples [spatial][C] shared by the channels-last kernels
// (GroupNorm, GlobalAveragePool, ChannelScale/Shift, SqueezeExcite): per-channel totals, channel
// means, and parallel runs of rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "devices/cpu/ops/parallel_for.hpp"
#include "devices/cpu/ops/vector_math.hpp"

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

// Channel means of each sample of a channels-last tensor [N][spatial][C]: means[n * C + c].
inline void channel_means(const float* x, int64_t N, int64_t spatial, int64_t C, float* means) {
  const float inv = spatial > 0 ? 1.f / static_cast<float>(spatial) : 0.f;
  for (int64_t n = 0; n < N; ++n) {
    const float* sample = x + n * spatial * C;
    const auto sums = column_totals(spatial, C, [&](int64_t r0, int64_t rows, float* run) {
      vec::add_rows(sample + r0 * C, rows, C, run);
    });
    for (int64_t c = 0; c < C; ++c) means[n * C + c] = static_cast<float>(sums[c]) * inv;
  }
}

// f(first, rows, n) for runs of up to 32 rows of every sample n of a channels-last tensor
// [N][spatial][C], in parallel where the tensor is large enough to pay for the threads; `first`
// is the element offset of the run's first row.
template <typename F>
void for_each_row_run(int64_t N, int64_t spatial, int64_t C, F f) {
  constexpr int64_t kRows = 32;
  const int64_t runs = (spatial + kRows - 1) / kRows;
  parallel_for(N * runs, N * C * spatial > 16384, [&](int64_t task) {
    const int64_t n = task / runs, r0 = (task % runs) * kRows;
    f((n * spatial + r0) * C, std::min(kRows, spatial - r0), n);
  });
}

}  // namespace sinter::cpu
