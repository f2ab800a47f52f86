// Memory blocks for tensors, arenas, scratch and packed weights. Each is 64-byte aligned; a
// block of 4 MiB or more starts on a 2 MiB boundary and is advised to the kernel as transparent
// huge pages (where /sys/kernel/mm/transparent_hugepage/enabled says madvise, as on Debian, no
// block gets them unasked). A large block then faults in 2 MiB at a time instead of 4 KiB: on
// virtual machines, where each fault traps to the hypervisor, SD 1.5's first UNet step spent
// 5 s of 14 faulting in 3 GB of fresh tensors 4 KiB at a time. Steady runs reuse their memory
// and are not affected.
#pragma once

#include <cstddef>

namespace sinter {

// A block of `bytes` (nullptr when it cannot be had); give it back with std::free.
void* allocate_block(std::size_t bytes);

// Zeros written over a block on up to 4 threads, so that its pages are resident before a run
// needs them. A first touch is slow on virtual machines, where the hypervisor backs each page as
// it is faulted in: one thread zeroed SD 1.5's 183 MiB UNet arena in 0.34 s on a 2-vCPU Xeon.
void zero_block(void* p, std::size_t bytes);

// mmap of the first `bytes` of a file (PROT_READ, MAP_SHARED) at a 2 MiB boundary, advised as
// huge pages: where the page cache holds the file in 2 MiB folios (ext4 and XFS on recent
// kernels), they are mapped whole, as anonymous huge pages are. MAP_FAILED on failure; unmap
// with munmap(p, bytes).
void* map_file_aligned(int fd, std::size_t bytes);

}  // namespace sinter
