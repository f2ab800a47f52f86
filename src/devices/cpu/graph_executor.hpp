// Runs an IR graph node by node with the CPU kernels. Values live in a scope; subgraphs get a
// child scope that can read the enclosing one. A value is released after its last reader.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "devices/cpu/node_cache.hpp"
#include "devices/cpu/op_context.hpp"
#include "devices/device.hpp"
#include "ir/graph.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu {

// Checks that every node (including subgraph nodes) has a kernel; unsupported_op error that
// lists the missing ops otherwise.
void check_kernels(const ir::Graph& graph);

// A graph's constants as values: made once per compiled graph (or subgraph run) and read by
// its scopes, which used to copy them all into every run's map.
using ConstantValues = std::unordered_map<std::string, Value>;
ConstantValues constant_values(const ir::Graph& graph);

class Scope {
 public:
  // Names resolve to the scope's own values first (graph inputs replace a constant of the same
  // name), then to `constants`, then to the parent's. `constants` must outlive the scope.
  Scope(const ConstantValues& constants, const Scope* parent)
      : constants_(constants), parent_(parent) {}
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value v) { values_[name] = std::move(v); }
  void erase(const std::string& name) { values_.erase(name); }

 private:
  const ConstantValues& constants_;
  const Scope* parent_;
  std::unordered_map<std::string, Value> values_;
};

// What a compiled graph works out once instead of on every run: each node's kernel, the values
// to release after each node, and each node's cache (prepared primitives). The bodies of its
// If/Loop/Scan nodes get plans of their own, made on their first run and kept, so a body's
// primitives are prepared once too, not on every iteration or call.
struct ExecutionPlan {
  // `enclosing`: the plan of the graph holding `graph` as a body, whose constants the body's
  // nodes read as constants too (an LSTM's weights in an If branch are transposed once, not on
  // every call).
  explicit ExecutionPlan(const ir::Graph& graph, const ExecutionPlan* enclosing = nullptr);
  ConstantValues constants;
  // Names that are constants for this graph's nodes: its own (not graph inputs) and the
  // enclosing graphs' that it does not define itself.
  std::unordered_set<std::string> constant_names;
  std::vector<Kernel> kernels;                  // per node; nullptr: none (an error when run)
  std::vector<std::vector<std::string>> dying;  // per node: values whose last reader it is
  mutable std::deque<NodeCache> caches;         // per node; thread-safe

  // The plan of `body`, a subgraph held by one of this graph's nodes (thread-safe; the body
  // must live as long as this plan, as the compiled graph's bodies do).
  const ExecutionPlan& subgraph_plan(const ir::Graph& body) const;

 private:
  mutable std::mutex subgraph_mutex_;
  mutable std::map<const ir::Graph*, std::unique_ptr<ExecutionPlan>> subgraph_plans_;
};

// Runs all nodes of `graph` in `scope` (which already holds the graph inputs).
// With `profile`, the wall time of each node of `graph` and the peak of live intermediate
// values are recorded there. `plan`, when given, was made for `graph`; without one, kernels
// and lifetimes are looked up on the way and nothing is cached (subgraph bodies).
void run_nodes(const ir::Graph& graph, Scope& scope, device::RunProfile* profile = nullptr,
               const ExecutionPlan* plan = nullptr);

// Runs `graph` with its inputs bound by position to `feeds`, below `parent`; returns outputs.
// `plan`, when given, was made for `graph` (ExecutionPlan::subgraph_plan).
std::vector<Value> run_subgraph(const ir::Graph& graph, std::vector<Value> feeds,
                                const Scope* parent, const ExecutionPlan* plan = nullptr);

}  // namespace sinter::cpu
