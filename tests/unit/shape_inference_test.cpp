// Static shape inference on graphs the ONNX test suite does not cover as a whole: the shape
// arithmetic chains exporters write (Shape → Gather → Unsqueeze → Concat → Reshape), symbolic
// dims, and the activation estimate's lifetimes (expected peaks worked out by hand below).
#include <gtest/gtest.h>

#include "ir/activation_estimate.hpp"
#include "ir/shape_inference.hpp"

using namespace sinter;

namespace {

Tensor i64_tensor(std::vector<int64_t> values) {
  Tensor t(ElementType::i64, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data_as<int64_t>());
  return t;
}

// x: f32[batch, 8, 16] → y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
ir::Graph flatten_by_shape_arithmetic() {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{-1, "batch"}, {8, ""}, {16, ""}}});
  g.constants["zero"] = Tensor(ElementType::i64, {});
  g.constants["axes0"] = i64_tensor({0});
  g.constants["minus_one"] = i64_tensor({-1});
  g.add_node("Shape", {"x"}, {"shape"});
  g.add_node("Gather", {"shape", "zero"}, {"batch"});
  g.add_node("Unsqueeze", {"batch", "axes0"}, {"batch1"});
  g.add_node("Concat", {"batch1", "minus_one"}, {"target"}).attributes["axis"].i = 0;
  g.add_node("Reshape", {"x", "target"}, {"y"});
  g.outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  return g;
}

}  // namespace

TEST(ShapeInference, EvaluatesShapeArithmeticOnceTheBatchIsKnown) {
  const ir::Graph g = flatten_by_shape_arithmetic();
  const auto s = ir::infer_shapes(g, {{"x", {3, 8, 16}}});
  EXPECT_EQ(s.values.at("target").values, (std::vector<int64_t>{3, -1}));
  EXPECT_EQ(s.values.at("y").dims, (std::vector<int64_t>{3, 128}));
  EXPECT_EQ(s.values.at("y").type, ElementType::f32);
  EXPECT_TRUE(s.ops_without_rule.empty());
}

TEST(ShapeInference, KeepsTheRankWhenADimIsSymbolic) {
  const ir::Graph g = flatten_by_shape_arithmetic();
  const auto s = ir::infer_shapes(g);
  EXPECT_EQ(s.values.at("shape").dims, (std::vector<int64_t>{3}));
  EXPECT_FALSE(s.values.at("shape").values.has_value());  // batch is not known
  ASSERT_TRUE(s.values.at("y").rank_known);
  EXPECT_EQ(s.values.at("y").dims.size(), 2u);
  EXPECT_EQ(s.values.at("y").byte_size(), -1);
}

TEST(ShapeInference, ConvolutionFollowsTheSpecFormula) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x",
                      PortInfo::Kind::tensor,
                      ElementType::f32,
                      true,
                      {{1, ""}, {3, ""}, {224, ""}, {224, ""}}});
  g.constants["w"] = Tensor(ElementType::f32, {64, 3, 7, 7});
  ir::Node& conv = g.add_node("Conv", {"x", "w"}, {"y"});
  conv.attributes["strides"].ints = {2, 2};
  conv.attributes["pads"].ints = {3, 3, 3, 3};
  ir::Node& pool = g.add_node("MaxPool", {"y"}, {"z"});
  pool.attributes["kernel_shape"].ints = {3, 3};
  pool.attributes["strides"].ints = {2, 2};
  pool.attributes["pads"].ints = {1, 1, 1, 1};
  g.outputs.push_back({"z", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto s = ir::infer_shapes(g);
  // floor((224 + 6 - 7) / 2) + 1 = 112; floor((112 + 2 - 3) / 2) + 1 = 56 (ResNet's stem).
  EXPECT_EQ(s.values.at("y").dims, (std::vector<int64_t>{1, 64, 112, 112}));
  EXPECT_EQ(s.values.at("z").dims, (std::vector<int64_t>{1, 64, 56, 56}));
}

TEST(ActivationEstimate, CountsValuesUntilTheirLastReader) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1, ""}, {1000, ""}}});
  g.add_node("Relu", {"x"}, {"a"});
  g.add_node("Neg", {"x"}, {"b"});
  g.add_node("Add", {"a", "b"}, {"c"});
  g.add_node("Sigmoid", {"c"}, {"d"});
  g.outputs.push_back({"d", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  const auto estimate = ir::estimate_activations(g, ir::infer_shapes(g));
  // After Add, a, b and c (4000 bytes each) are alive together; later at most c and d.
  EXPECT_EQ(estimate.peak_bytes, 12000);
  EXPECT_EQ(estimate.unsized_values, 0);
}

TEST(ActivationEstimate, ReportsValuesOfUnknownSize) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{-1, "n"}}});
  g.add_node("NonZero", {"x"}, {"where"});
  g.outputs.push_back({"where", PortInfo::Kind::tensor, ElementType::i64, false, {}});
  ir::validate(g);
  const auto estimate = ir::estimate_activations(g, ir::infer_shapes(g, {{"x", {10}}}));
  EXPECT_EQ(estimate.unsized_values, 1);
  EXPECT_EQ(estimate.first_unsized, "where");
}

// Found by the fuzz target: an arithmetic node without inputs, and tracked contents whose
// shapes do not broadcast, must leave the output unknown rather than read out of bounds.
TEST(ShapeInference, MalformedArithmeticNodesStayUnknown) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.add_node("Add", {}, {"nothing"});
  g.constants["three"] = i64_tensor({1, 2, 3});
  g.constants["two"] = i64_tensor({4, 5});
  g.add_node("Mul", {"three", "two"}, {"clash"});
  const ir::ShapeInference s = ir::infer_shapes(g);
  EXPECT_FALSE(s.values.at("clash").values.has_value());
  EXPECT_FALSE(s.values.count("nothing") && s.values.at("nothing").values.has_value());
}

// Found by the fuzz target: rules write output 0 (and more) even when a malformed node
// declares none; that must not write past the node's outputs.
TEST(ShapeInference, NodesWithoutOutputsAreSkippedSafely) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{2, ""}}});
  g.add_node("Relu", {"x"}, {});
  g.add_node("TopK", {"x"}, {"values"});  // TopK has two outputs; this node declares one
  const ir::ShapeInference s = ir::infer_shapes(g, {{"x", {2}}});
  EXPECT_EQ(s.values.count("values"), 1u);
  EXPECT_EQ(s.values.size(), 2u);  // x and values: nothing was invented for Relu
}

// Found by the fuzz target: blocksize 0 divided by zero in the DepthToSpace rule.
TEST(ShapeInference, DepthToSpaceWithBlocksizeZeroStaysUnknown) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1, ""}, {4, ""}, {2, ""}, {2, ""}}});
  g.add_node("DepthToSpace", {"x"}, {"y"}).attributes["blocksize"].i = 0;
  const ir::ShapeInference s = ir::infer_shapes(g, {{"x", {1, 4, 2, 2}}});
  EXPECT_FALSE(s.values.at("y").rank_known);
}
