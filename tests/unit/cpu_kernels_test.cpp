// CPU kernel edge cases the ONNX suite does not reach: integer division and modulo of the most
// negative value by -1, which trap on x86 when computed directly.
#include <gtest/gtest.h>

#include <limits>
#include <map>

#include "devices/cpu/cpu_device.hpp"

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
