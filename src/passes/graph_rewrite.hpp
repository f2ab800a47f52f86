// Helpers the rewrite passes share: who reads a value, renaming a value's readers, and fresh
// names for constants a pass creates.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.hpp"

namespace sinter::passes {

// For each value name, the indices of the nodes of `graph` that read it (a node reading it
// twice is listed once; reads from inside a node's subgraphs count as that node's).
std::unordered_map<std::string, std::vector<std::size_t>> readers_of(const ir::Graph& graph);

bool is_graph_output(const ir::Graph& graph, const std::string& name);

// Every read of `from` (by nodes, including their subgraphs) becomes a read of `to`.
void rename_reads(ir::Graph& graph, const std::string& from, const std::string& to);

// `base` if no value of `graph` has that name yet, else base_1, base_2, ...
std::string fresh_constant_name(const ir::Graph& graph, const std::string& base);

// Removes the nodes whose index is marked in `removed` (same length as graph.nodes), keeping
// the others in order.
void erase_nodes(ir::Graph& graph, const std::vector<bool>& removed);

// The f32 constant named `name`, or nullptr when it is not a constant of this graph or not f32.
const Tensor* f32_constant(const ir::Graph& graph, const std::string& name);

}  // namespace sinter::passes
