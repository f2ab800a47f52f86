// CPU kernel edge cases and fast paths the ONNX suite does not reach: integer division and modulo
// of the most negative value by -1 (which trap on x86 when computed directly), Einsum as a
// batched matrix product, Pow by 2.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "devices/cpu/cpu_device.hpp"
#include "placement_text.hpp"

using namespace sinter;

TEST(CpuKernels, MostNegativeIntegerByMinusOneDoesNotTrap) {
  ir::Graph g;
  g.opsets[""] = 17;
  for (const char* name : {"a", "b"})
    g.inputs.push_back({name, PortInfo::Kind::tensor, ElementType::i64, true, {{2, ""}}});
  g.add_node("Div", {"a", "b"}, {"q"});
  g.add_node("Mod", {"a", "b"}, {"r"});
  for (const char* name : {"q", "r"})
    g.outputs.push_back({name, PortInfo::Kind::tensor, ElementType::i64, false, {}});
  ir::validate(g);
  const int64_t min = std::numeric_limits<int64_t>::min();
  Tensor a(ElementType::i64, {2}), b(ElementType::i64, {2});
  a.data_as<int64_t>()[0] = min;
  a.data_as<int64_t>()[1] = -7;
  b.data_as<int64_t>()[0] = -1;
  b.data_as<int64_t>()[1] = -1;
  std::map<std::string, Value> values = {{"a", a}, {"b", b}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  EXPECT_EQ(values.at("q").tensor().data_as<int64_t>()[0], min);  // wraps, as in two's complement
  EXPECT_EQ(values.at("q").tensor().data_as<int64_t>()[1], 7);
  EXPECT_EQ(values.at("r").tensor().data_as<int64_t>()[0], 0);
  EXPECT_EQ(values.at("r").tensor().data_as<int64_t>()[1], 0);
}

// Einsum "abc,cbd->dab" (batch label b in the middle of the first operand, the output in another
// order) runs as transposes around a batched sgemm; checked against the sum written out.
TEST(CpuKernels, EinsumAsBatchedMatrixProductMatchesTheSum) {
  const int64_t na = 2, nb = 3, nc = 4, nd = 5;
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{na, ""}, {nb, ""}, {nc, ""}}});
  g.inputs.push_back(
      {"y", PortInfo::Kind::tensor, ElementType::f32, true, {{nc, ""}, {nb, ""}, {nd, ""}}});
  ir::Node& n = g.add_node("Einsum", {"x", "y"}, {"z"});
  n.attributes["equation"].kind = ir::Attribute::Kind::s;
  n.attributes["equation"].s = "abc,cbd->dab";
  g.outputs.push_back({"z", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  Tensor x(ElementType::f32, {na, nb, nc}), y(ElementType::f32, {nc, nb, nd});
  for (int64_t i = 0; i < x.element_count(); ++i) x.data_as<float>()[i] = std::sin(0.3f * i);
  for (int64_t i = 0; i < y.element_count(); ++i) y.data_as<float>()[i] = std::cos(0.7f * i);
  std::map<std::string, Value> values = {{"x", x}, {"y", y}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  const Tensor& z = values.at("z").tensor();
  ASSERT_EQ(z.shape(), (Shape{nd, na, nb}));
  for (int64_t d = 0; d < nd; ++d)
    for (int64_t a = 0; a < na; ++a)
      for (int64_t b = 0; b < nb; ++b) {
        double want = 0;
        for (int64_t c = 0; c < nc; ++c)
          want += double(x.data_as<float>()[(a * nb + b) * nc + c]) *
                  y.data_as<float>()[(c * nb + b) * nd + d];
        EXPECT_NEAR(z.data_as<float>()[(d * na + a) * nb + b], want, 1e-5);
      }
}

// Pow(x, 2) with the exponent as an f32 or an i64 scalar is the exact square (computed without
// pow); another exponent still goes through pow. Checked against x * x and std::pow.
TEST(CpuKernels, PowOfTwoIsTheExactSquare) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{3, ""}, {70, ""}}});
  Tensor two_f(ElementType::f32, {}), two_i(ElementType::i64, {1}), half(ElementType::f32, {});
  two_f.data_as<float>()[0] = 2.f;
  two_i.data_as<int64_t>()[0] = 2;
  half.data_as<float>()[0] = 0.5f;
  g.constants["two_f"] = two_f;
  g.constants["two_i"] = two_i;
  g.constants["half"] = half;
  g.add_node("Pow", {"x", "two_f"}, {"a"});
  g.add_node("Pow", {"x", "two_i"}, {"b"});
  g.add_node("Pow", {"x", "half"}, {"c"});
  for (const char* name : {"a", "b", "c"})
    g.outputs.push_back({name, PortInfo::Kind::tensor, ElementType::f32, false, {}});
  ir::validate(g);
  Tensor x(ElementType::f32, {3, 70});
  for (int64_t i = 0; i < x.element_count(); ++i) x.data_as<float>()[i] = 3.f * std::sin(0.37f * i);
  std::map<std::string, Value> values = {{"x", x}};
  cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {})->run(values);
  for (int64_t i = 0; i < x.element_count(); ++i) {
    const float v = x.data_as<float>()[i];
    EXPECT_EQ(values.at("a").tensor().data_as<float>()[i], v * v) << i;
    EXPECT_EQ(values.at("b").tensor().data_as<float>()[i], v * v) << i;
    const float c = values.at("c").tensor().data_as<float>()[i];
    if (v < 0)
      EXPECT_TRUE(std::isnan(c)) << i;
    else
      EXPECT_FLOAT_EQ(c, std::pow(v, 0.5f)) << i;
  }
}

// Shape with start / end of an input of static shape is folded at compile (constant_folding.cpp)
// into what the operator spec says: negative ends count from the back, both are clamped to
// [0, rank]. Each result feeds an Add so that it is not a graph output (which is not folded).
TEST(CpuKernels, FoldedShapeSlicesFollowTheSpec) {
  ir::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(
      {"x", PortInfo::Kind::tensor, ElementType::f32, true, {{2, ""}, {3, ""}, {5, ""}, {7, ""}}});
  Tensor zero(ElementType::i64, {});
  zero.data_as<int64_t>()[0] = 0;
  g.constants["zero"] = zero;
  const std::vector<std::tuple<const char*, int64_t, int64_t, std::vector<int64_t>>> cases = {
      {"all", 0, 4, {2, 3, 5, 7}},    {"from1", 1, 4, {3, 5, 7}}, {"last", -1, 4, {7}},
      {"but_last", 0, -1, {2, 3, 5}}, {"past_end", 5, 9, {}},     {"before", -9, 2, {2, 3}}};
  for (const auto& [name, start, end, _] : cases) {
    ir::Node& shape = g.add_node("Shape", {"x"}, {std::string(name) + "_shape"});
    shape.attributes["start"].kind = shape.attributes["end"].kind = ir::Attribute::Kind::i;
    shape.attributes["start"].i = start;
    shape.attributes["end"].i = end;
    g.add_node("Add", {std::string(name) + "_shape", "zero"}, {name});
    g.outputs.push_back({name, PortInfo::Kind::tensor, ElementType::i64, false, {}});
  }
  ir::validate(g);
  const auto exe = cpu::make_cpu_device()->compile(std::make_shared<ir::Graph>(g), {});
  EXPECT_EQ(kernel_free(exe->placement().node_implementation[0]), "removed by graph optimisation");
  std::map<std::string, Value> values = {{"x", Tensor(ElementType::f32, {2, 3, 5, 7})}};
  exe->run(values);
  for (const auto& [name, start, end, want] : cases) {
    const Tensor& t = values.at(name).tensor();
    ASSERT_EQ(t.element_count(), static_cast<int64_t>(want.size())) << name;
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(t.data_as<int64_t>()[i], want[i]) << name;
  }
}
