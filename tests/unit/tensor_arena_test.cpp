// The tensor arena: offsets planned from a recorded run, taken by runs that allocate the same
// way; blocks whose lifetimes overlap never share bytes; anything unplanned (a block kept alive
// past its planned end, a run that allocates differently, outputs) comes from the heap; and
// through the CPU device, outputs of earlier inferences are never overwritten by later ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include <unistd.h>

#include <filesystem>

#include "base/file_io.hpp"
#include "base/tensor_arena.hpp"
#include "devices/cpu/arena_plan_file.hpp"
#include "devices/cpu/cpu_device.hpp"

using namespace sinter;

namespace {

// A run as a graph would make it: a [1 KiB] and b [2 KiB] alive together, a freed, c [1 KiB]
// made while b lives, b and c freed, and an output [512 B] kept by the caller.
struct Blocks {
  std::shared_ptr<void> a, b, c, out;
};

Blocks one_run(const std::shared_ptr<TensorArena>& arena, bool keep_a = false) {
  Blocks kept;
  TensorArena::Run run(arena);
  auto a = current_tensor_arena()->allocate(1024);
  auto b = current_tensor_arena()->allocate(2048);
  std::memset(a.get(), 0xA, 1024);
  std::memset(b.get(), 0xB, 2048);
  kept.a = a, kept.b = b;
  if (!keep_a) kept.a.reset();
  a.reset();
  auto c = current_tensor_arena()->allocate(1024);
  std::memset(c.get(), 0xC, 1024);
  kept.c = c;
  kept.b.reset();
  b.reset();
  kept.out = current_tensor_arena()->allocate(512);
  kept.c.reset();
  c.reset();
  return kept;
}

bool filled(const void* p, unsigned char v, std::size_t n) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (c[i] != v) return false;
  return true;
}

}  // namespace

TEST(TensorArena, RunsThatAllocateAlikeTakePlannedOffsets) {
  auto arena = std::make_shared<TensorArena>();
  EXPECT_EQ(current_tensor_arena(), nullptr);
  const Blocks first = one_run(arena);  // recorded, served from the heap
  EXPECT_FALSE(arena->planned(first.out.get()));
  // a and c never live at the same time: they share an offset; b is apart. 2 KiB + 1 KiB.
  EXPECT_EQ(arena->planned_bytes(), 3072u);
  // Watch where the second run's blocks go.
  TensorArena::Run run(arena);
  auto a = current_tensor_arena()->allocate(1024);
  auto b = current_tensor_arena()->allocate(2048);
  EXPECT_TRUE(arena->planned(a.get()));
  EXPECT_TRUE(arena->planned(b.get()));
  EXPECT_NE(a.get(), b.get());
  std::memset(b.get(), 0xB, 2048);
  const void* a_at = a.get();
  a.reset();
  auto c = current_tensor_arena()->allocate(1024);
  EXPECT_EQ(c.get(), a_at);
  std::memset(c.get(), 0xC, 1024);
  EXPECT_TRUE(filled(b.get(), 0xB, 2048));
  auto out = current_tensor_arena()->allocate(512);  // alive at the end of the recorded run
  EXPECT_FALSE(arena->planned(out.get()));
}

// release_buffer gives the memory back between runs and keeps the plan: the next run takes
// planned offsets in a new buffer, and a block still alive from the old one keeps its bytes.
TEST(TensorArena, ReleasedBufferComesBackWithThePlan) {
  auto arena = std::make_shared<TensorArena>();
  one_run(arena);
  const Blocks held = one_run(arena, true);  // a lives on, in the planned buffer
  ASSERT_TRUE(arena->planned(held.a.get()));
  arena->release_buffer();
  EXPECT_EQ(arena->planned_bytes(), 0u);
  EXPECT_FALSE(arena->planned(held.a.get()));
  EXPECT_TRUE(filled(held.a.get(), 0xA, 1024));  // the old buffer stays while a uses it
  TensorArena::Run run(arena);
  EXPECT_EQ(arena->planned_bytes(), 3072u);
  auto a = current_tensor_arena()->allocate(1024);
  EXPECT_TRUE(arena->planned(a.get()));
  std::memset(a.get(), 0x5, 1024);
  EXPECT_TRUE(filled(held.a.get(), 0xA, 1024));
}

TEST(TensorArena, BlocksAlivePastTheirPlanAndOtherRunsComeFromTheHeap) {
  auto arena = std::make_shared<TensorArena>();
  one_run(arena);
  // a is kept past its planned end: c, planned at a's offset, must not land on it.
  const Blocks held = one_run(arena, true);
  ASSERT_TRUE(arena->planned(held.a.get()));
  EXPECT_TRUE(filled(held.a.get(), 0xA, 1024));
  {
    TensorArena::Run run(arena);
    auto a = current_tensor_arena()->allocate(1024);
    EXPECT_NE(a.get(), held.a.get());  // planned where held.a still lives: from the heap
    EXPECT_FALSE(arena->planned(a.get()));
    auto other = current_tensor_arena()->allocate(4096);  // not what was recorded
    EXPECT_FALSE(arena->planned(other.get()));
    std::memset(other.get(), 0xE, 4096);
  }
  EXPECT_TRUE(filled(held.a.get(), 0xA, 1024));
  EXPECT_EQ(current_tensor_arena(), nullptr);
}

// A run with an allocation the plan does not have (a cache filled in this run only) takes the
// planned offsets for the rest; so does a run that skips a planned one.
TEST(TensorArena, RunsThatDifferByACacheKeepTheRestOfThePlan) {
  auto arena = std::make_shared<TensorArena>();
  one_run(arena);
  {
    TensorArena::Run run(arena);
    auto cache = current_tensor_arena()->allocate(777);  // not planned: from the heap
    EXPECT_FALSE(arena->planned(cache.get()));
    auto a = current_tensor_arena()->allocate(1024);
    auto b = current_tensor_arena()->allocate(2048);
    EXPECT_TRUE(arena->planned(a.get()));
    EXPECT_TRUE(arena->planned(b.get()));
  }
  auto fresh = std::make_shared<TensorArena>();
  one_run(fresh);
  TensorArena::Run run(fresh);
  auto b = current_tensor_arena()->allocate(2048);  // a is not made this time
  EXPECT_TRUE(fresh->planned(b.get()));
}

// The plan a run made is handed out once; another arena (of a later process) that adopts it
// serves its very first run from the planned buffer.
TEST(TensorArena, AdoptedPlanServesTheFirstRun) {
  auto arena = std::make_shared<TensorArena>();
  EXPECT_FALSE(arena->take_new_plan());
  one_run(arena);
  const auto plan = arena->take_new_plan();
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->size(), 4u);           // a, b, c and the output
  EXPECT_EQ((*plan)[3].offset, -1);      // alive at the end: from the heap
  EXPECT_FALSE(arena->take_new_plan());  // once
  one_run(arena);                        // allocates as planned: no new plan
  EXPECT_FALSE(arena->take_new_plan());

  auto later = std::make_shared<TensorArena>();
  ASSERT_TRUE(later->adopt_plan(*plan));
  EXPECT_FALSE(later->adopt_plan(*plan));  // it has one now
  TensorArena::Run run(later);
  EXPECT_EQ(later->planned_bytes(), 3072u);
  auto a = current_tensor_arena()->allocate(1024);
  EXPECT_TRUE(later->planned(a.get()));
}

// A plan from a damaged file may not point outside its buffer nor ask for absurd memory; one
// that is within bounds but wrong (every block at offset 0) hands out no block that overlaps
// a live one.
TEST(TensorArena, AdoptedPlansAreCheckedAndNeverOverlapLiveBlocks) {
  using B = TensorArena::PlannedBlock;
  EXPECT_FALSE(std::make_shared<TensorArena>()->adopt_plan({}));
  EXPECT_FALSE(std::make_shared<TensorArena>()->adopt_plan({{1024, 0}, {1024, 4096}}));
  EXPECT_FALSE(std::make_shared<TensorArena>()->adopt_plan({{1024, 0}, {1024, 32}}));  // unaligned
  EXPECT_FALSE(std::make_shared<TensorArena>()->adopt_plan({{1024, -2}}));
  EXPECT_FALSE(std::make_shared<TensorArena>()->adopt_plan({{std::size_t{1} << 50, 0}}));
  auto arena = std::make_shared<TensorArena>();
  ASSERT_TRUE(arena->adopt_plan({B{1024, 0}, B{2048, 0}, B{1024, 0}, B{512, 0}}));
  TensorArena::Run run(arena);
  auto a = current_tensor_arena()->allocate(1024);
  auto b = current_tensor_arena()->allocate(2048);  // planned on a, which lives
  EXPECT_TRUE(arena->planned(a.get()));
  EXPECT_FALSE(arena->planned(b.get()));
  std::memset(a.get(), 0xA, 1024);
  std::memset(b.get(), 0xB, 2048);
  EXPECT_TRUE(filled(a.get(), 0xA, 1024));
  a.reset();
  auto c = current_tensor_arena()->allocate(1024);  // a is gone: its offset is free
  EXPECT_TRUE(arena->planned(c.get()));
  std::memset(c.get(), 0xC, 1024);
  EXPECT_TRUE(filled(b.get(), 0xB, 2048));
}

// The CPU device keeps plans in files: read back as written; a missing file is no plan, a
// damaged one no plan (with a warning), never an error.
TEST(TensorArena, PlanFilesRoundTripAndDamageIsNoPlan) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("sinter_arena_plan_" + std::to_string(::getpid()));
  const std::string path = (dir / "sub" / "arena-1.plan").string();
  EXPECT_FALSE(cpu::read_arena_plan(path));
  const std::vector<TensorArena::PlannedBlock> plan = {{1024, 0}, {2048, 1024}, {512, -1}};
  cpu::write_arena_plan(path, plan);
  const auto back = cpu::read_arena_plan(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, plan);
  std::string bytes = read_file(path);
  for (std::size_t cut : {bytes.size() - 1, std::size_t{10}, std::size_t{0}}) {
    write_file_atomically(path, bytes.substr(0, cut));
    EXPECT_FALSE(cpu::read_arena_plan(path)) << cut;
  }
  bytes[bytes.size() - 3] ^= 0x40;  // a block's offset
  write_file_atomically(path, bytes);
  EXPECT_FALSE(cpu::read_arena_plan(path));
  fs::remove_all(dir);
}

// A run making more tensors than the arena plans for (a long loop) turns it off: everything
// from the heap, then and afterwards, and nothing planned.
TEST(TensorArena, RunsWithThousandsOfTensorsAreLeftToTheHeap) {
  auto arena = std::make_shared<TensorArena>();
  for (int run = 0; run < 2; ++run) {
    TensorArena::Run watch(arena);
    int served = 0;
    for (int i = 0; i < 5000; ++i) served += current_tensor_arena()->allocate(256) != nullptr;
    EXPECT_EQ(served, run == 0 ? 4096 : 0);  // the first 4096 recorded, the rest refused
  }
  EXPECT_EQ(arena->planned_bytes(), 0u);
}

// A Conv -> Relu -> Conv graph run five times on the CPU device (the arena learns its plan in
// the first runs): every output stays what its own inference computed, later runs do not write
// into it.
TEST(TensorArena, CpuOutputsSurviveLaterInferences) {
  const int c = 8, h = 6, w = 6, n = c * h * w;
  std::vector<float> ws(c * c);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.3f * std::cos(0.7f * i);
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1, ""}, {c, ""}, {h, ""}, {w, ""}}});
  Tensor wt(ElementType::f32, {c, c, 1, 1});
  std::copy(ws.begin(), ws.end(), wt.data_as<float>());
  g.constants["w"] = wt;
  g.add_node("Conv", {"x", "w"}, {"a"});
  g.add_node("Relu", {"a"}, {"r"});
  g.add_node("Conv", {"r", "w"}, {"y"});
  g.add_node("Sigmoid", {"r"}, {"s"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"s", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  auto expected = [&](int run) {
    std::vector<double> x(n), r(n, 0.0), y(n, 0.0), s(n);
    for (int i = 0; i < n; ++i) x[i] = std::sin(0.1 * i + run);
    for (int o = 0; o < c; ++o)
      for (int k = 0; k < c; ++k)
        for (int p = 0; p < h * w; ++p) r[o * h * w + p] += ws[o * c + k] * x[k * h * w + p];
    for (auto& v : r) v = std::max(v, 0.0);
    for (int o = 0; o < c; ++o)
      for (int k = 0; k < c; ++k)
        for (int p = 0; p < h * w; ++p) y[o * h * w + p] += ws[o * c + k] * r[k * h * w + p];
    for (int i = 0; i < n; ++i) s[i] = 1 / (1 + std::exp(-r[i]));
    return std::pair{y, s};
  };
  std::vector<std::map<std::string, Value>> results;
  for (int run = 0; run < 5; ++run) {
    Tensor x(ElementType::f32, {1, c, h, w});
    for (int i = 0; i < n; ++i) x.data_as<float>()[i] = static_cast<float>(std::sin(0.1 * i + run));
    std::map<std::string, Value> values = {{"x", x}};
    exe->run(values);
    results.push_back(values);
  }
  for (int run = 0; run < 5; ++run) {
    const auto [y, s] = expected(run);
    for (int i = 0; i < n; ++i) {
      ASSERT_NEAR(results[run].at("y").tensor().data_as<float>()[i], y[i], 1e-4) << run << ":" << i;
      ASSERT_NEAR(results[run].at("s").tensor().data_as<float>()[i], s[i], 1e-5) << run << ":" << i;
    }
  }
}
