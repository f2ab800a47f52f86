// The CPU device's tensor-arena plans (base/tensor_arena.hpp), kept in the model cache next to
// its packed weights, so that a new process's first inference takes its intermediate tensors
// from one buffer planned ahead instead of fresh memory per tensor. Without it, SD 1.5's first
// UNet step in a new process mapped 5.4 GB of fresh pages (each zeroed by the kernel) where a
// steady step uses one 664 MiB buffer.
//
// A plan is only an optimisation: one that is missing, damaged or made for other allocations
// costs the first run the planning it would have done anyway, never a wrong result (the arena
// checks each block before it hands it out, and adopt_plan checks the plan's bounds).
//
// File: magic "SNTRARNA", u32 version 1, u32 block count, u64 XXH3-64 of the blocks, then per
// block u64 bytes and i64 offset, in the host's byte order. Written atomically.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/tensor_arena.hpp"

namespace sinter::cpu {

// The plan in `path`; nullopt when there is none, or (with a warning) when it is damaged.
std::optional<std::vector<TensorArena::PlannedBlock>> read_arena_plan(const std::string& path);

// Failures (no space, no permission) are warnings: the next process plans again.
void write_arena_plan(const std::string& path, const std::vector<TensorArena::PlannedBlock>& plan);

}  // namespace sinter::cpu
