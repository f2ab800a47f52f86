#include "base/byte_workers.hpp"

#include <algorithm>
#include <thread>
#include <vector>

namespace sinter {

unsigned byte_workers(uint64_t bytes, uint64_t per_thread) {
  const unsigned most = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  return static_cast<unsigned>(std::clamp<uint64_t>(bytes / per_thread, 1, most));
}

void run_workers(unsigned workers, const std::function<void(unsigned)>& work) {
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& thread : pool) thread.join();
}

}  // namespace sinter
