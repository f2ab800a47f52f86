// A few threads of their own for work over many bytes outside any inference (checking
// checksums, zeroing a fresh buffer), where OpenMP's team is not at hand: the first touch or
// read of gigabytes is far faster split across cores.
#pragma once

#include <cstdint>
#include <functional>

namespace sinter {

// The workers for `bytes` of such work: one per `per_thread` bytes, at least 1, at most 4 and no
// more than the CPU's threads.
unsigned byte_workers(uint64_t bytes, uint64_t per_thread);

// work(w) for every w < workers: 0 on the calling thread, each other on a thread of its own;
// returns when all have.
void run_workers(unsigned workers, const std::function<void(unsigned)>& work);

}  // namespace sinter
