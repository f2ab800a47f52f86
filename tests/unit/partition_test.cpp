// HETERO: the partitioner on made-up support maps, and the HETERO device over mock devices
// (real CPU kernels behind made-up support lists), checked against the plain CPU device.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "devices/cpu/cpu_device.hpp"
#include "devices/hetero/hetero_device.hpp"
#include "ir/partition.hpp"
#include "mock_device.hpp"

using namespace sinter;

namespace {

PortInfo f32_port(const std::string& name, std::vector<Dimension> dims) {
  return {name, PortInfo::Kind::tensor, ElementType::f32, !dims.empty(), std::move(dims)};
}

// x -> A:Relu -> a -> B:Neg -> b -> C:Mul(b, a) -> y. Putting A and C on one device and B on
// another in two groups would make them wait on each other: {A, C} needs b, {B} needs a.
ir::Graph diamond() {
  ir::Graph g;
  g.name = "diamond";
  g.opsets[""] = 17;
  g.inputs.push_back(f32_port("x", {{2, ""}, {3, ""}}));
  g.outputs.push_back(f32_port("y", {}));
  g.add_node("Relu", {"x"}, {"a"}).name = "A";
  g.add_node("Neg", {"a"}, {"b"}).name = "B";
  g.add_node("Mul", {"b", "a"}, {"y"}).name = "C";
  return g;
}

// Every subgraph reads only graph inputs and values of earlier subgraphs: the split has no cycle.
void expect_runs_in_order(const ir::Graph& g, const ir::Partition& p) {
  std::map<std::string, std::size_t> made_in;
  for (std::size_t s = 0; s < p.subgraphs.size(); ++s)
    for (std::size_t n : p.subgraphs[s].nodes)
      for (const auto& o : g.nodes[n].outputs) made_in[o] = s;
  for (std::size_t s = 0; s < p.subgraphs.size(); ++s) {
    for (std::size_t n : p.subgraphs[s].nodes) {
      for (const auto& in : g.nodes[n].inputs) {
        auto it = made_in.find(in);
        if (it == made_in.end()) continue;  // a graph input
        EXPECT_LE(it->second, s) << g.nodes[n].name << " reads '" << in << "' from a later part";
        if (it->second != s) {
          const auto& ins = p.subgraphs[s].inputs;
          EXPECT_NE(std::find(ins.begin(), ins.end(), in), ins.end())
              << "'" << in << "' crosses into part " << s << " but is not among its inputs";
        }
      }
    }
  }
}

TEST(Partition, SplitsWithoutACycleWhereNaiveGroupingWouldMakeOne) {
  const ir::Graph g = diamond();
  // Device 0 ("GPU") runs Relu and Mul, device 1 ("CPU") everything.
  const ir::Partition p = ir::partition_graph(g, {{true, false, true}, {true, true, true}});
  EXPECT_EQ(p.node_device, (std::vector<int>{0, 1, 0}));
  ASSERT_EQ(p.subgraphs.size(), 3u);  // A | B | C, not {A, C} + {B}
  EXPECT_EQ(p.subgraphs[0].device, 0);
  EXPECT_EQ(p.subgraphs[1].device, 1);
  EXPECT_EQ(p.subgraphs[2].device, 0);
  EXPECT_EQ(p.subgraphs[2].inputs, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.subgraphs[0].outputs, (std::vector<std::string>{"a"}));
  EXPECT_EQ(p.subgraphs[2].outputs, (std::vector<std::string>{"y"}));
  expect_runs_in_order(g, p);
}

TEST(Partition, OneDeviceThatRunsEverythingGivesOnePart) {
  const ir::Graph g = diamond();
  const ir::Partition p = ir::partition_graph(g, {{true, true, true}, {true, true, true}});
  ASSERT_EQ(p.subgraphs.size(), 1u);
  EXPECT_EQ(p.subgraphs[0].nodes, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(p.subgraphs[0].inputs, (std::vector<std::string>{"x"}));
}

// A chain n0 .. n10 where device 0 runs n0, n2 and n5..n10: n2 alone between CPU parts moves to
// the CPU, then n0 (a short first part next to a longer one) follows; n5..n10 stay on device 0.
TEST(Partition, AbsorbsShortRunsIntoTheirNeighbours) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(f32_port("v0", {{4, ""}}));
  for (int i = 0; i < 11; ++i)
    g.add_node("Relu", {"v" + std::to_string(i)}, {"v" + std::to_string(i + 1)}).name =
        "n" + std::to_string(i);
  g.outputs.push_back(f32_port("v11", {}));
  const std::vector<bool> gpu = {true, false, true, false, false, true,
                                 true, true,  true, true,  true};
  const ir::Partition p = ir::partition_graph(g, {gpu, std::vector<bool>(11, true)});
  EXPECT_EQ(p.node_device, (std::vector<int>{1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}));
  ASSERT_EQ(p.subgraphs.size(), 2u);
  expect_runs_in_order(g, p);
}

TEST(Partition, AnIndependentBranchJoinsTheEarliestPartOfItsDevice) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(f32_port("x", {{4, ""}}));
  g.add_node("Relu", {"x"}, {"a"}).name = "gpu_first";
  g.add_node("Neg", {"a"}, {"b"}).name = "cpu_only";
  g.add_node("Relu", {"x"}, {"c"}).name = "independent";  // needs nothing from the CPU part
  g.add_node("Add", {"b", "c"}, {"y"}).name = "join";
  g.outputs.push_back(f32_port("y", {}));
  const ir::Partition p =
      ir::partition_graph(g, {{true, false, true, true}, {true, true, true, true}});
  ASSERT_EQ(p.subgraphs.size(), 3u);
  EXPECT_EQ(p.subgraphs[0].nodes, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(p.subgraphs[2].nodes, (std::vector<std::size_t>{3}));
  expect_runs_in_order(g, p);
}

TEST(Partition, MemoryPolicyFillsDevicesInOrder) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(f32_port("v0", {{16, ""}}));
  for (int i = 0; i < 4; ++i) {
    const std::string w = "w" + std::to_string(i);
    g.constants[w] = Tensor(ElementType::f32, {16});  // 64 bytes each
    g.add_node("Add", {"v" + std::to_string(i), w}, {"v" + std::to_string(i + 1)}).name =
        "add" + std::to_string(i);
  }
  g.outputs.push_back(f32_port("v4", {}));
  ir::PartitionOptions options;
  options.weight_budget = {150};  // device 0 holds two weights; device 1 is unlimited
  const std::vector<bool> all(4, true);
  const ir::Partition p = ir::partition_graph(g, {all, all}, options);
  EXPECT_EQ(p.node_device, (std::vector<int>{0, 0, 1, 1}));
  ASSERT_EQ(p.subgraphs.size(), 2u);
  expect_runs_in_order(g, p);
}

TEST(Partition, NamesANodeNoDeviceSupports) {
  const ir::Graph g = diamond();
  try {
    ir::partition_graph(g, {{true, false, true}, {true, false, true}});
    FAIL() << "expected unsupported_op";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::unsupported_op);
    EXPECT_NE(std::string(e.what()).find("'B'"), std::string::npos) << e.what();
  }
}

TEST(HeteroDevice, SplitRunMatchesTheCpuAndReportsWhereEachPartRan) {
  auto g = std::make_shared<const ir::Graph>(diamond());
  auto mock_gpu = std::make_shared<mocks::MockDevice>(
      "MOCKGPU", mocks::MockBehaviour{{"Relu", "Mul"}, {}, false});
  auto mock_cpu = std::make_shared<mocks::MockDevice>("MOCKCPU");
  const auto hetero = hetero::make_hetero_device({mock_gpu, mock_cpu}, {});
  EXPECT_EQ(hetero->info().name, "HETERO:MOCKGPU,MOCKCPU");
  const auto exe = hetero->compile(g, {});
  const device::PlacementReport placement = exe->placement();
  EXPECT_EQ(placement.node_device, (std::vector<std::string>{"MOCKGPU", "MOCKCPU", "MOCKGPU"}));
  EXPECT_EQ(placement.subgraph_devices,
            (std::vector<std::string>{"MOCKGPU", "MOCKCPU", "MOCKGPU"}));

  Tensor x(ElementType::f32, {2, 3});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int i = 0; i < 6; ++i) x.data_as<float>()[i] = dist(rng);
  std::map<std::string, Value> split = {{"x", x}}, whole = {{"x", x}};
  device::RunProfile profile;
  exe->run(split, &profile);
  cpu::make_cpu_device()->compile(g, {})->run(whole);
  const Tensor& a = split.at("y").tensor();
  const Tensor& b = whole.at("y").tensor();
  ASSERT_EQ(a.shape(), b.shape());
  for (int i = 0; i < 6; ++i) {
    const float r = std::max(x.data_as<float>()[i], 0.f);
    EXPECT_FLOAT_EQ(b.data_as<float>()[i], -r * r);  // the formula, independent of both runs
    EXPECT_FLOAT_EQ(a.data_as<float>()[i], b.data_as<float>()[i]);
  }
  EXPECT_EQ(profile.devices, (std::vector<std::string>{"MOCKGPU", "MOCKCPU"}));
  // a (24 bytes) goes GPU -> CPU and GPU -> GPU (free); b (24 bytes) CPU -> GPU.
  EXPECT_EQ(profile.transfer_bytes, 48);
}

}  // namespace
