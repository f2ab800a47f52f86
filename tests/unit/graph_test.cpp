// IR validation: undefined inputs, duplicate producers, cycles, topological ordering.
#include <gtest/gtest.h>

#include "ir/graph.hpp"

using namespace sinter;

namespace {
ir::Graph two_node_graph() {
  ir::Graph g;
  g.name = "g";
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{2, ""}}});
  g.outputs.push_back({"z", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  // Deliberately out of order: z needs y.
  g.add_node("Relu", {"y"}, {"z"}).name = "second";
  g.add_node("Neg", {"x"}, {"y"}).name = "first";
  return g;
}

std::string error_of(ir::Graph g) {
  try {
    ir::validate(g);
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::invalid_model);
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Graph, SortsNodesTopologically) {
  ir::Graph g = two_node_graph();
  ir::validate(g);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].name, "first");
  EXPECT_EQ(g.nodes[1].name, "second");
}

TEST(Graph, NamesTheNodeThatReadsAnUndefinedValue) {
  ir::Graph g = two_node_graph();
  g.nodes[1].inputs[0] = "missing";
  const std::string msg = error_of(g);
  EXPECT_NE(msg.find("'first' (Neg)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(Graph, RejectsTwoProducersOfOneName) {
  ir::Graph g = two_node_graph();
  g.nodes[0].outputs[0] = "y";
  EXPECT_NE(error_of(g).find("produced by both"), std::string::npos);
}

TEST(Graph, RejectsCycles) {
  ir::Graph g;
  g.name = "loop";
  g.outputs.push_back({"a", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g.add_node("Neg", {"b"}, {"a"});
  g.add_node("Neg", {"a"}, {"b"});
  EXPECT_NE(error_of(g).find("cycle"), std::string::npos);
}

TEST(Graph, RejectsAnOutputNobodyProduces) {
  ir::Graph g = two_node_graph();
  g.outputs[0].name = "nowhere";
  EXPECT_NE(error_of(g).find("nowhere"), std::string::npos);
}

TEST(Graph, CountsOpsInsideSubgraphs) {
  ir::Graph g = two_node_graph();
  auto body = std::make_shared<ir::Graph>(two_node_graph());
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::g;
  a.g = body;
  g.nodes[0].attributes["then_branch"] = a;
  std::map<std::string, int64_t> h;
  ir::count_ops(g, h);
  EXPECT_EQ(h["Relu"], 2);
  EXPECT_EQ(h["Neg"], 2);
}
