#include "base/tensor_arena.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/large_blocks.hpp"

namespace sinter {

namespace {

thread_local TensorArena* current_arena = nullptr;

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kMaxRecorded = 4096;

std::size_t aligned(std::size_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

}  // namespace

TensorArena* current_tensor_arena() {
  return current_arena;
}

TensorArena::Run::Run(std::shared_ptr<TensorArena> arena)
    : arena_(std::move(arena)), previous_(current_arena) {
  arena_->begin_run();
  current_arena = arena_.get();
}

TensorArena::Run::~Run() {
  current_arena = previous_;
  arena_->end_run();
}

void TensorArena::begin_run() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++generation_;
  events_ = 0;
  next_ = 0;
  diverged_ = false;
  record_.clear();
  if (!plan_.empty()) provide_buffer();  // again, where release_buffer gave it back
}

std::shared_ptr<void> TensorArena::allocate(std::size_t bytes) {
  char* block = nullptr;
  int64_t generation = 0;
  std::size_t record = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (disabled_) return nullptr;
    if (record_.size() >= kMaxRecorded) {
      // Thousands of tensors per run (a long Loop): planning would cost more than it saves.
      disabled_ = true;
      plan_.clear();
      return nullptr;
    }
    const std::size_t index = next_++;
    record = record_.size();
    record_.push_back({bytes, events_++, -1});
    generation = generation_;
    if (index < plan_.size() && plan_[index].bytes == bytes) {
      if (plan_[index].offset >= 0) {
        char* candidate = buffer_.get() + plan_[index].offset;
        const bool free = std::none_of(live_.begin(), live_.end(), [&](const Live& l) {
          return l.begin < candidate + bytes && candidate < l.begin + l.bytes;
        });
        if (free) block = candidate;
      }
    } else {
      diverged_ = true;
    }
    if (block) live_.push_back({block, bytes});
  }
  auto self = shared_from_this();
  if (block) {
    // The buffer stays while any block of it is alive, even after a new plan replaced it.
    return std::shared_ptr<void>(block, [self, buffer = buffer_, generation, record](void* p) {
      self->release(generation, record, static_cast<const char*>(p));
    });
  }
  void* heap = allocate_block(aligned(bytes));
  if (!heap) return nullptr;  // the caller's own allocation reports the failure
  return std::shared_ptr<void>(heap, [self, generation, record](void* p) {
    std::free(p);
    self->release(generation, record, nullptr);
  });
}

void TensorArena::release(int64_t generation, std::size_t record, const char* arena_block) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (generation == generation_ && record < record_.size()) record_[record].freed = events_++;
  if (arena_block) {
    auto it = std::find_if(live_.begin(), live_.end(),
                           [&](const Live& l) { return l.begin == arena_block; });
    if (it != live_.end()) live_.erase(it);
  }
}

void TensorArena::end_run() {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool matched = !diverged_ && next_ == plan_.size();
  if (!matched && !disabled_) make_plan();
  record_.clear();
}

void TensorArena::make_plan() {
  // Blocks freed during the run, largest first; each at the lowest offset where it overlaps no
  // block placed before whose lifetime overlaps its own.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < record_.size(); ++i)
    if (record_[i].freed >= 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return record_[a].bytes > record_[b].bytes;
  });
  plan_.assign(record_.size(), Slot{0, -1});
  for (std::size_t i = 0; i < record_.size(); ++i) plan_[i].bytes = record_[i].bytes;
  std::vector<std::size_t> placed;
  std::size_t total = 0;
  for (std::size_t i : order) {
    const Record& r = record_[i];
    // Address ranges taken by placed blocks alive at the same time, by offset.
    std::vector<std::pair<std::size_t, std::size_t>> taken;
    for (std::size_t j : placed) {
      const Record& o = record_[j];
      if (o.allocated < r.freed && r.allocated < o.freed)
        taken.emplace_back(plan_[j].offset, plan_[j].offset + aligned(o.bytes));
    }
    std::sort(taken.begin(), taken.end());
    std::size_t offset = 0;
    for (const auto& [begin, end] : taken) {
      if (offset + aligned(r.bytes) <= begin) break;
      offset = std::max(offset, end);
    }
    plan_[i].offset = static_cast<int64_t>(offset);
    total = std::max(total, offset + aligned(r.bytes));
    placed.push_back(i);
  }
  planned_total_ = aligned(total);
  provide_buffer();
}

void TensorArena::provide_buffer() {
  if (planned_total_ <= buffer_bytes_) return;
  char* memory = static_cast<char*>(allocate_block(planned_total_));
  if (!memory) {
    plan_.clear();  // everything from the heap, as without an arena
    return;
  }
  // Touched now, once, rather than page by page during a later inference.
  std::memset(memory, 0, planned_total_);
  buffer_ = std::shared_ptr<char>(memory, [](char* p) { std::free(p); });
  buffer_bytes_ = planned_total_;
}

void TensorArena::release_buffer() {
  std::lock_guard<std::mutex> lock(mutex_);
  buffer_.reset();  // blocks still in use keep it alive until they go
  buffer_bytes_ = 0;
}

std::size_t TensorArena::planned_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return buffer_bytes_;
}

bool TensorArena::planned(const void* p) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const char* c = static_cast<const char*>(p);
  return buffer_ && c >= buffer_.get() && c < buffer_.get() + buffer_bytes_;
}

}  // namespace sinter
