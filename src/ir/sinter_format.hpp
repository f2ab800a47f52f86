// The .sinter file: a converted model that loads by mapping the file, with no weight copies.
// Layout (docs/sinter-format.md), all little-endian:
//
//   offset 0   "SINTERIR"                 magic
//          8   u32 format version (1)     u32 flags (0)
//         16   u64 header bytes H         u64 data bytes D
//         32   u64 XXH3-64 of the header  u64 reserved (0)
//         48   JSON header (H bytes): graph, opsets, tensor table
//          P   tensor data (D bytes), P = 48 + H rounded up to 64; each tensor 64-byte aligned
//
// The file is exactly P + D bytes. Every tensor has its own XXH3-64 hash in the table, checked at
// load: a truncated or corrupt file is an invalid_model error, never a crash.
//
//   write_sinter_file(graph, "m.sinter", {});
//   std::shared_ptr<Graph> g = read_sinter_file("m.sinter");
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ir/graph.hpp"

namespace sinter::ir {

constexpr uint32_t kSinterFormatVersion = 1;
// The fixed prefix (magic to header checksum): what identifies a file's contents, since the
// header's checksum covers the graph and every tensor's own checksum.
constexpr std::size_t kSinterPrefixBytes = 48;

struct SinterWriteOptions {
  // Store float32 weights of 1024 elements or more as float16 (half the disk); they are
  // expanded back to float32 when the file is loaded.
  bool compress_f16 = false;
  std::string producer;  // e.g. "sinter 0.1.0"
  std::string source;    // the model it was converted from
};

struct SinterWriteStats {
  int64_t tensors = 0;
  int64_t data_bytes = 0;
  int64_t compressed_tensors = 0;
};

// Writes atomically (temporary file, then rename).
SinterWriteStats write_sinter_file(const Graph& graph, const std::string& path,
                                   const SinterWriteOptions& options);

bool looks_like_sinter(const char* data, std::size_t size);

// Maps the file; weights become tensors over the mapping. Validates the result.
std::shared_ptr<Graph> read_sinter_file(const std::string& path);

}  // namespace sinter::ir
