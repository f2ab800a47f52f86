#include "devices/cpu/arena_plan_file.hpp"

#include <cstring>
#include <filesystem>

#include "base/content_hash.hpp"
#include "base/errors.hpp"
#include "base/file_io.hpp"
#include "base/logging.hpp"

namespace sinter::cpu {

namespace {

constexpr char kMagic[8] = {'S', 'N', 'T', 'R', 'A', 'R', 'N', 'A'};
constexpr uint32_t kVersion = 1;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t blocks;
  uint64_t blocks_hash;
};

struct StoredBlock {
  uint64_t bytes;
  int64_t offset;
};

}  // namespace

std::optional<std::vector<TensorArena::PlannedBlock>> read_arena_plan(const std::string& path) {
  std::error_code missing;
  if (!std::filesystem::exists(path, missing)) return std::nullopt;
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    log().warn("model cache: arena plan {} cannot be read ({}); planning again", path, e.what());
    return std::nullopt;
  }
  Header h{};
  if (text.size() >= sizeof h) std::memcpy(&h, text.data(), sizeof h);
  const std::size_t body = text.size() - std::min(text.size(), sizeof h);
  const char* damage = nullptr;
  if (text.size() < sizeof h || std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 ||
      h.version != kVersion)
    damage = "not an arena plan of this version";
  else if (body != std::size_t{h.blocks} * sizeof(StoredBlock))
    damage = "of the wrong size";
  else if (content_hash64(text.data() + sizeof h, body) != h.blocks_hash)
    damage = "failing its checksum";
  if (damage) {
    log().warn("model cache: arena plan {} is {}; planning again", path, damage);
    return std::nullopt;
  }
  std::vector<TensorArena::PlannedBlock> plan(h.blocks);
  for (uint32_t i = 0; i < h.blocks; ++i) {
    StoredBlock b;
    std::memcpy(&b, text.data() + sizeof h + i * sizeof b, sizeof b);
    plan[i] = {static_cast<std::size_t>(b.bytes), b.offset};
  }
  return plan;
}

void write_arena_plan(const std::string& path, const std::vector<TensorArena::PlannedBlock>& plan) {
  std::string blocks(plan.size() * sizeof(StoredBlock), '\0');
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const StoredBlock b{static_cast<uint64_t>(plan[i].bytes), plan[i].offset};
    std::memcpy(blocks.data() + i * sizeof b, &b, sizeof b);
  }
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.blocks = static_cast<uint32_t>(plan.size());
  h.blocks_hash = content_hash64(blocks.data(), blocks.size());
  try {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    write_file_atomically(path, std::string(reinterpret_cast<const char*>(&h), sizeof h) + blocks);
  } catch (const std::exception& e) {
    log().warn("model cache: arena plan {} not kept ({})", path, e.what());
  }
}

}  // namespace sinter::cpu
