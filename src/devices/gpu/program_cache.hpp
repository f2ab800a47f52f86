// OpenCL program binaries kept in the model cache (CompileOptions::cache_dir), so that a warm
// start builds no OpenCL program. One file per device, driver and kernel-source version:
//   <cache_dir>/opencl-<key>.bin = "SINTERCL" magic, u64 length, u64 XXH3 of the binary, binary.
// A file that fails these checks, or that the driver rejects, is reported in one warning,
// removed and rebuilt.
#pragma once

#include <optional>
#include <string>

namespace sinter::gpu {

// The cached binary for `key`, when present and intact.
std::optional<std::string> load_program_binary(const std::string& cache_dir,
                                               const std::string& key);
void store_program_binary(const std::string& cache_dir, const std::string& key,
                          const std::string& binary);
void drop_program_binary(const std::string& cache_dir, const std::string& key,
                         const std::string& why);

}  // namespace sinter::gpu
