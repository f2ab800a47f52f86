// sinter's intermediate representation: a typed graph of ONNX-style nodes.
//
// Values are named (as in ONNX) and every name is produced once: by a graph input, a constant
// (stored once, shared by reference) or a node output. Subgraphs (If/Loop/Scan bodies) are
// Graphs held by attributes and may read names of enclosing graphs.
//
//   ir::Graph g;
//   g.inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{1}, {4}}});
//   ir::Node& n = g.add_node("Relu", {"x"}, {"y"});
//   g.outputs.push_back({"y", ...});
//   ir::validate(g);  // throws invalid_model naming the node and what is wrong
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sinter/core.hpp"
#include "sinter/tensor.hpp"

namespace sinter::ir {

struct Graph;

struct Attribute {
  enum class Kind { none, f, i, s, t, g, floats, ints, strings, tensors, graphs, type_proto };
  Kind kind = Kind::none;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  PortInfo type;  // for TYPE_PROTO attributes (e.g. Optional's "type")
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;                // "" for ai.onnx
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  std::map<std::string, Attribute> attributes;
  // Positions, in the graph a device was given, of the nodes this one stands for: set by the
  // device before its rewrites, extended by fusions (a Conv that absorbed a BatchNormalization
  // lists both), so reports and profiles speak of the user's nodes. Not stored in files.
  std::vector<std::size_t> sources;

  const Attribute* find(const std::string& attr) const {
    auto it = attributes.find(attr);
    return it == attributes.end() ? nullptr : &it->second;
  }
  // Attribute values with a fallback when the attribute is absent.
  int64_t attr_int(const std::string& attr, int64_t fallback) const {
    const Attribute* a = find(attr);
    return a ? a->i : fallback;
  }
  float attr_float(const std::string& attr, float fallback) const {
    const Attribute* a = find(attr);
    return a ? a->f : fallback;
  }
  std::string attr_string(const std::string& attr, const std::string& fallback) const {
    const Attribute* a = find(attr);
    return a ? a->s : fallback;
  }
  std::vector<int64_t> attr_ints(const std::string& attr, std::vector<int64_t> fallback) const {
    const Attribute* a = find(attr);
    return a ? a->ints : fallback;
  }
  // "node 'conv1' (Conv)" for error messages.
  std::string label() const;
};

struct Graph {
  std::string name;
  std::vector<PortInfo> inputs;
  std::vector<PortInfo> outputs;
  std::map<std::string, Tensor> constants;  // initializers; weights stored once
  std::vector<Node> nodes;                  // topological order after validate()
  std::map<std::string, int64_t> opsets;    // domain -> version ("" is ai.onnx)

  Node& add_node(std::string op_type, std::vector<std::string> inputs,
                 std::vector<std::string> outputs);
  int64_t opset(const std::string& domain = "") const;
};

// Checks that every node input is defined (by an input, a constant, an earlier node or an
// enclosing graph), that no name is produced twice and that outputs exist; reorders nodes
// topologically. `outer` lists names visible from enclosing graphs.
void validate(Graph& graph, const std::vector<std::string>& outer_names = {});

// Names a node reads, including names its subgraphs read from enclosing graphs.
void collect_reads(const Node& node, std::unordered_set<std::string>& out);

// For each node (by index), the values whose last reader it is, to release once it has run.
// Graph outputs are never released; values nobody reads are not listed either.
std::vector<std::vector<std::string>> values_dying_after(const Graph& graph);

// Whether `n` is a DequantizeLinear of constants only (8-bit codes, f32 scales per tensor or
// along its axis, optional zero points): weights stored compressed (`sinter convert --compress
// int8`), which a device expands or keeps as codes when it loads them, never a value of a run.
bool dequantizes_constant_weights(const Graph& graph, const Node& n);

// The bytes of node outputs alive at once, and their high-water mark. Executors and the
// static activation estimate share it, so measured and planned peaks count the same way.
class LiveBytes {
 public:
  void add(const std::string& name, int64_t bytes) {
    sizes_[name] = bytes;
    current_ += bytes;
    peak_ = current_ > peak_ ? current_ : peak_;
  }
  void release(const std::string& name) {
    auto it = sizes_.find(name);
    if (it == sizes_.end()) return;
    current_ -= it->second;
    sizes_.erase(it);
  }
  int64_t peak() const { return peak_; }

 private:
  std::unordered_map<std::string, int64_t> sizes_;
  int64_t current_ = 0, peak_ = 0;
};

// Counts nodes by op_type, recursing into subgraphs.
void count_ops(const Graph& graph, std::map<std::string, int64_t>& histogram);

}  // namespace sinter::ir
