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
// How many planned allocations past the expected one an allocation of another size may match.
constexpr std::size_t kLookahead = 16;

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
    record = record_.size();
    record_.push_back({bytes, events_++, -1});
    generation = generation_;
    const int64_t index = match(bytes);
    if (index >= 0 && plan_[index].offset >= 0 && buffer_) {
      char* candidate = buffer_.get() + plan_[index].offset;
      const bool free = std::none_of(live_.begin(), live_.end(), [&](const Live& l) {
        return l.begin < candidate + bytes && candidate < l.begin + l.bytes;
      });
      if (free) block = candidate;
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

int64_t TensorArena::match(std::size_t bytes) {
  const std::size_t end = std::min(plan_.size(), next_ + kLookahead);
  for (std::size_t i = next_; i < end; ++i) {
    if (plan_[i].bytes != bytes) continue;
    if (i != next_) diverged_ = true;  // planned allocations skipped
    next_ = i + 1;
    return static_cast<int64_t>(i);
  }
  diverged_ = true;  // one the plan does not have
  return -1;
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
  plan_.assign(record_.size(), PlannedBlock{0, -1});
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
  new_plan_ = true;
  provide_buffer();
}

std::optional<std::vector<TensorArena::PlannedBlock>> TensorArena::take_new_plan() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!new_plan_ || plan_.empty()) return std::nullopt;
  new_plan_ = false;
  return plan_;
}

bool TensorArena::adopt_plan(std::vector<PlannedBlock> plan) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!plan_.empty() || disabled_ || plan.empty() || plan.size() > kMaxRecorded) return false;
  // Every block inside the buffer, and no buffer larger than the blocks side by side: a plan
  // read from a damaged file must neither write outside it nor ask for absurd memory.
  std::size_t total = 0, side_by_side = 0;
  for (const PlannedBlock& b : plan) {
    if (b.bytes > (std::size_t{1} << 44)) return false;  // 16 TiB: not a tensor of this host
    side_by_side += aligned(b.bytes);
    if (b.offset == -1) continue;
    if (b.offset < 0 || static_cast<std::size_t>(b.offset) % kAlignment != 0) return false;
    total = std::max(total, static_cast<std::size_t>(b.offset) + aligned(b.bytes));
  }
  if (total > side_by_side) return false;
  plan_ = std::move(plan);
  planned_total_ = aligned(total);
  return true;
}

void TensorArena::provide_buffer() {
  if (planned_total_ <= buffer_bytes_) return;
  char* memory = static_cast<char*>(allocate_block(planned_total_));
  if (!memory) {
    plan_.clear();  // everything from the heap, as without an arena
    return;
  }
  // Touched now, once, rather than page by page during a later inference.
  zero_block(memory, planned_total_);
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
