// Graph rewrites: the rewritten graph has the expected structure, and the CPU device running
// it gives what a direct formula gives (computed here, independently of any kernel).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "devices/cpu/cpu_device.hpp"
#include "passes/fold_batch_norm.hpp"
#include "passes/optimize.hpp"
#include "passes/simplify.hpp"

using namespace sinter;

namespace {

Tensor f32(Shape shape, std::vector<float> values) {
  Tensor t(ElementType::f32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data_as<float>());
  return t;
}

// x f32[1,1,1,3] -> Conv (1x1, 2 output channels, weights w, bias b) -> BatchNormalization -> y
ir::Graph conv_then_batch_norm() {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1, ""}, {1, ""}, {1, ""}, {3, ""}}});
  g.constants["w"] = f32({2, 1, 1, 1}, {2.f, -1.f});
  g.constants["b"] = f32({2}, {0.5f, 1.f});
  g.constants["scale"] = f32({2}, {3.f, 0.5f});
  g.constants["beta"] = f32({2}, {-1.f, 2.f});
  g.constants["mean"] = f32({2}, {1.f, -2.f});
  g.constants["var"] = f32({2}, {4.f, 0.25f});
  g.add_node("Conv", {"x", "w", "b"}, {"c"});
  g.add_node("BatchNormalization", {"c", "scale", "beta", "mean", "var"}, {"y"})
      .attributes["epsilon"]
      .f = 0.f;
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  return g;
}

}  // namespace

TEST(Passes, BatchNormFoldsIntoConvAndKeepsTheFormula) {
  ir::Graph g = conv_then_batch_norm();
  EXPECT_EQ(passes::fold_batch_norm_into_conv(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Conv");
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  EXPECT_EQ(passes::remove_dead_nodes(g), 0);
  EXPECT_EQ(g.constants.count("scale"), 0u);  // unread parameters are dropped
  EXPECT_EQ(g.constants.count("w"), 0u);

  std::map<std::string, Value> values = {{"x", f32({1, 1, 1, 3}, {1.f, -2.f, 0.25f})}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  const Tensor& y = values.at("y").tensor();
  const float w[2] = {2.f, -1.f}, b[2] = {0.5f, 1.f}, scale[2] = {3.f, 0.5f}, beta[2] = {-1.f, 2.f},
              mean[2] = {1.f, -2.f}, var[2] = {4.f, 0.25f};
  const float x[3] = {1.f, -2.f, 0.25f};
  for (int m = 0; m < 2; ++m)
    for (int i = 0; i < 3; ++i) {
      const float conv = w[m] * x[i] + b[m];
      EXPECT_NEAR(y.data_as<float>()[m * 3 + i],
                  (conv - mean[m]) / std::sqrt(var[m]) * scale[m] + beta[m], 1e-5);
    }
}

TEST(Passes, BatchNormStaysWhenTheConvOutputHasOtherReaders) {
  ir::Graph g = conv_then_batch_norm();
  g.add_node("Relu", {"c"}, {"r"});
  g.outputs.push_back({"r", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  EXPECT_EQ(passes::fold_batch_norm_into_conv(g), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(Passes, PassThroughNodesAreRemovedButGraphOutputsKeepTheirNames) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{2, ""}}});
  g.add_node("Identity", {"x"}, {"a"});
  g.add_node("Relu", {"a"}, {"r"});
  g.add_node("Dropout", {"r"}, {"d"});
  g.add_node("Identity", {"d"}, {"y"});   // graph output fed through two pass-throughs
  g.add_node("Identity", {"x"}, {"xo"});  // graph output straight from a graph input: kept
  g.add_node("Neg", {"d"}, {"unused"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.outputs.push_back({"xo", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const passes::OptimizationReport report = passes::optimize_graph(g);
  EXPECT_EQ(report.summary(), "3 pass-through nodes removed, 1 unused nodes removed");
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].op_type, "Relu");
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  EXPECT_EQ(g.nodes[1].op_type, "Identity");
  ir::validate(g);

  std::map<std::string, Value> values = {{"x", f32({2}, {-3.f, 4.f})}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  EXPECT_EQ(values.at("y").tensor().data_as<float>()[0], 0.f);
  EXPECT_EQ(values.at("y").tensor().data_as<float>()[1], 4.f);
  EXPECT_EQ(values.at("xo").tensor().data_as<float>()[0], -3.f);
}
