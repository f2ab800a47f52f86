// Splitting a graph across devices (HETERO): a pure function of the graph and of which device
// supports which node, so that it can be tested without devices.
//
//   supported[d][n]: device d (in the user's order of preference) can run top-level node n.
//   Partition p = partition_graph(graph, supported);
//   for (const Subgraph& s : p.subgraphs) ... extract_subgraph(graph, s, shapes) on device s.device
//
// Placement: each node goes to the first device that supports it (or, with a memory budget per
// device, to the first that supports it and still has room for its weights). Grouping: nodes are
// taken in graph order and each joins the earliest subgraph of its device that comes after every
// subgraph holding one of its inputs, else a new subgraph at the end. Subgraphs then run one
// after another, so the split can never contain a cycle (A on GPU -> B on CPU -> C on GPU with
// A -> C gives three subgraphs, not {A, C} and {B} waiting on each other). Finally a small run of
// nodes between two subgraphs of another device that supports them all moves there, as does a
// small first or last subgraph next to a larger one, so that device switches stay few.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.hpp"
#include "ir/shape_inference.hpp"

namespace sinter::ir {

struct Subgraph {
  int device = 0;                    // index into the device order
  std::vector<std::size_t> nodes;    // top-level node indices, in graph order
  std::vector<std::string> inputs;   // values it reads from outside: graph inputs, other subgraphs
  std::vector<std::string> outputs;  // values later subgraphs or the graph's outputs read
};

struct Partition {
  std::vector<int> node_device;     // per top-level node
  std::vector<Subgraph> subgraphs;  // in execution order
};

struct PartitionOptions {
  // Per device, the weight bytes it may hold; empty: no limit ("first supporting device").
  std::vector<int64_t> weight_budget;
  // Runs of at most this many nodes between two subgraphs of one other device move there.
  std::size_t island_nodes = 4;
};

// Raises unsupported_op naming the first node no device supports.
Partition partition_graph(const Graph& graph, const std::vector<std::vector<bool>>& supported,
                          const PartitionOptions& options = {});

// A graph of one subgraph's nodes: the constants they read, inputs typed and shaped from
// `shapes` (static shape inference of the whole graph), its outputs, the graph's opsets.
Graph extract_subgraph(const Graph& graph, const Subgraph& subgraph, const ShapeInference& shapes,
                       const std::string& name);

}  // namespace sinter::ir
