// One block of memory for the tensors an inference makes, with offsets planned from their
// lifetimes. A device that runs the same graph again and again (the CPU device, one arena per
// compiled graph and concurrent request) installs an arena on its thread for the duration of a
// run; tensors allocated meanwhile (Tensor's constructors) ask it for memory.
//
// The arena learns the plan by watching: during a run it records every allocation's size and
// when it was allocated and freed. After a run whose allocations differed from the plan (the
// first, or one after the caches of the first run filled), it plans offsets from that record:
// blocks whose lifetimes overlap never share bytes, larger blocks placed first at the lowest
// offset that fits (greedy by size). The next run whose allocations match take their planned
// offsets in one buffer, allocated (and touched) once: no allocator calls, and no page touched
// for the first time in a later inference. Blocks still alive when the run ended (its outputs,
// what kernels keep in their caches) always come from the heap. Before handing out planned
// memory it checks that nothing alive there overlaps (a block freed later than planned), so a
// run that does something else than the recorded one is served from the heap, never wrong. A
// run with thousands of tensors (long loops) turns the arena off: the heap serves it all.
//
// Runs are matched to the plan allocation by allocation, in order. An allocation of another
// size than the next planned one (a cache filled in this run only, a kernel's staging copy that
// an earlier run no longer needed) is looked for among the next few planned ones, and the run
// goes on from there; not found, it comes from the heap. So a plan kept from another process
// (the CPU device keeps its plans in the model cache) serves most of a new process's first run,
// whose allocations differ from a steady run's by the caches it fills.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace sinter {

class TensorArena : public std::enable_shared_from_this<TensorArena> {
 public:
  // One allocation of a planned run, in order: its size and its offset in the buffer (-1: from
  // the heap, as blocks still alive when the run ended).
  struct PlannedBlock {
    std::size_t bytes;
    int64_t offset;
    bool operator==(const PlannedBlock&) const = default;
  };

  // Makes `arena` serve the calling thread's tensor allocations until destroyed; marks a run.
  class Run {
   public:
    explicit Run(std::shared_ptr<TensorArena> arena);
    ~Run();
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

   private:
    std::shared_ptr<TensorArena> arena_;
    TensorArena* previous_;
  };

  // Memory for `bytes` (64-byte aligned), freed (or given back to the arena) with the returned
  // pointer's last copy; nullptr when the caller should allocate it itself. Thread-safe.
  std::shared_ptr<void> allocate(std::size_t bytes);
  // Size of the planned buffer (0 before a plan), and whether `p` points into it.
  std::size_t planned_bytes() const;
  bool planned(const void* p) const;
  // Gives the buffer back between runs (the plan stays): the next run allocates it again.
  void release_buffer();
  // The plan the last run made, once (nullopt when it made none or it was taken already): what
  // a device keeps for the next process.
  std::optional<std::vector<PlannedBlock>> take_new_plan();
  // Takes a plan made by an arena of an earlier process for the same graph, before the first
  // run; false (and nothing changed) when a block lies outside the buffer the plan implies or
  // the arena has a plan already.
  bool adopt_plan(std::vector<PlannedBlock> plan);

 private:
  struct Record {
    std::size_t bytes;
    int64_t allocated, freed;  // event numbers; freed -1 while alive
  };
  struct Live {
    const char* begin;
    std::size_t bytes;
  };

  void begin_run();
  void end_run();
  void release(int64_t generation, std::size_t record, const char* arena_block);
  void make_plan();
  // The index of the planned allocation `bytes` stands for (advancing next_), or -1.
  int64_t match(std::size_t bytes);
  void provide_buffer();  // the buffer for the plan, where it is smaller or gone

  mutable std::mutex mutex_;
  int64_t generation_ = 0, events_ = 0;
  std::vector<Record> record_;
  std::vector<PlannedBlock> plan_;
  bool diverged_ = false, disabled_ = false, new_plan_ = false;
  std::size_t next_ = 0;  // the planned allocation the run is expected to make next
  std::shared_ptr<char> buffer_;
  std::size_t buffer_bytes_ = 0, planned_total_ = 0;
  std::vector<Live> live_;  // planned blocks in use (of buffer_ or of a buffer it replaced)
};

// The arena serving this thread's tensor allocations, or nullptr.
TensorArena* current_tensor_arena();

}  // namespace sinter
