// The machine's f32 matrix-multiply rate through oneDNN (the CPU device's GEMM), as the
// reference next to the achieved GFLOP/s of whole models in the benchmark table.
//
//   sinter-matmul-rate [--threads N] [--size N]   ->   {"size": 1024, "threads": 2, "gflops": ...}
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  int threads = 2, size = 1024, repeats = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--size"))
      size = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: sinter-matmul-rate [--threads N] [--size N]\n");
      return 2;
    }
  }
  if (threads < 1 || size < 16) {
    std::fprintf(stderr, "sinter-matmul-rate: --threads >= 1 and --size >= 16\n");
    return 2;
  }
  omp_set_num_threads(threads);
  const dnnl_dim_t n = size;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n, 0.0f);
  std::vector<double> seconds;
  for (int r = 0; r < repeats + 1; ++r) {  // the first run warms caches and threads up
    const auto t0 = std::chrono::steady_clock::now();
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n) !=
        dnnl_success) {
      std::fprintf(stderr, "sinter-matmul-rate: dnnl_sgemm failed\n");
      return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) seconds.push_back(s);
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double expected = 0.5 * 0.25 * double(n);  // every element of C, checked once
  if (c[0] != static_cast<float>(expected)) {
    std::fprintf(stderr, "sinter-matmul-rate: wrong product %g, expected %g\n", c[0], expected);
    return 1;
  }
  std::printf("{\"size\": %d, \"threads\": %d, \"median_s\": %.6f, \"gflops\": %.2f}\n", size,
              threads, median, 2.0 * double(n) * double(n) * double(n) / median / 1e9);
  return 0;
}
