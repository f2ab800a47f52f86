#include "devices/cpu/bf16_marking.hpp"

#include <unordered_map>

#include "devices/cpu/conv_fusion.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

bool is_fused(const ir::Node& n, const char* op) {
  return n.domain == kCpuDomain && n.op_type == op;
}

void set_flag(ir::Node& n, const char* name) {
  n.attributes[name].kind = ir::Attribute::Kind::i;
  n.attributes[name].i = 1;
}

bool flag(const ir::Node& n, const char* name) {
  const ir::Attribute* a = n.find(name);
  return a && a->i != 0;
}

// A residual (sum post-op) input is added to the result in the output's type.
bool has_residual(const ir::Node& n) {
  return n.inputs.size() > 3 && !n.inputs[3].empty();
}

// A product with K = 0 makes its result without oneDNN, in f32 only.
bool has_empty_inner_dimension(const ir::Graph& g, const ir::Node& n) {
  if (!is_fused(n, "FusedMatMul") || n.inputs.size() < 2) return false;
  auto it = g.constants.find(n.inputs[1]);
  return it == g.constants.end() || it->second.rank() != 2 || it->second.shape()[0] == 0;
}

}  // namespace

Bf16Marking mark_bf16(ir::Graph& g) {
  Bf16Marking marked;
  auto grouped = [](const ir::Node& n) {
    const ir::Attribute* group = n.find("group");
    return group && group->i > 1;
  };
  for (auto& n : g.nodes) {
    if ((!is_fused(n, "FusedConv") && !is_fused(n, "FusedMatMul")) || grouped(n)) continue;
    const ir::Attribute* winograd = n.find("winograd");
    if (winograd && winograd->i) continue;  // faster in f32 (winograd_marking.hpp)
    set_flag(n, "compute_bf16");
    ++marked.nodes;
  }
  // Attention's products take bf16 where the CPU multiplies bf16 pairs (attention_tiles.hpp;
  // elsewhere it stays f32); it reads and writes f32, so no value around it changes type.
  for (auto& n : g.nodes) {
    if (!is_fused(n, "Attention")) continue;
    set_flag(n, "compute_bf16");
    ++marked.nodes;
  }
  const auto readers = passes::readers_of(g);
  std::unordered_map<std::string, const ir::Node*> producers;
  for (const auto& n : g.nodes)
    if (!n.outputs.empty()) producers[n.outputs[0]] = &n;
  // A grouped convolution whose input a bf16 convolution makes, for convolutions only, would
  // read bf16 at no conversion cost (the value is stored in bf16 below): it computes in bf16.
  for (auto& n : g.nodes) {
    if (!is_fused(n, "FusedConv") || !grouped(n) || n.inputs.empty()) continue;
    auto p = producers.find(n.inputs[0]);
    auto r = readers.find(n.inputs[0]);
    if (p == producers.end() || !is_fused(*p->second, "FusedConv") ||
        !flag(*p->second, "compute_bf16") || has_residual(*p->second) || r == readers.end())
      continue;
    bool only_convolutions = true;
    for (std::size_t k : r->second) only_convolutions &= is_fused(g.nodes[k], "FusedConv");
    if (!only_convolutions) continue;
    set_flag(n, "compute_bf16");
    ++marked.nodes;
  }
  for (auto& producer : g.nodes) {
    if (!flag(producer, "compute_bf16") || is_fused(producer, "Attention") ||
        has_residual(producer) || has_empty_inner_dimension(g, producer) ||
        producer.outputs.empty())
      continue;
    const std::string& v = producer.outputs[0];
    auto it = readers.find(v);
    if (it == readers.end() || passes::is_graph_output(g, v)) continue;
    bool all_take_bf16 = true;
    for (std::size_t r : it->second) {
      const ir::Node& reader = g.nodes[r];
      all_take_bf16 = all_take_bf16 && reader.op_type == producer.op_type &&
                      flag(reader, "compute_bf16") && !has_empty_inner_dimension(g, reader);
      for (std::size_t k = 1; k < reader.inputs.size(); ++k)
        all_take_bf16 = all_take_bf16 && reader.inputs[k] != v;
    }
    if (!all_take_bf16) continue;
    set_flag(producer, "dst_bf16");
    for (std::size_t r : it->second) set_flag(g.nodes[r], "src_bf16");
    ++marked.values;
  }
  return marked;
}

}  // namespace sinter::cpu
