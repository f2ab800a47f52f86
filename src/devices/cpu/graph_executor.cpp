#include "devices/cpu/graph_executor.hpp"

#include <algorithm>
#include <chrono>

#include <omp.h>

#include <set>
#include <unordered_set>

#include "base/errors.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/node_threads.hpp"

namespace sinter::cpu {

namespace {

void collect_missing(const ir::Graph& graph, std::set<std::string>& missing) {
  const auto& registry = KernelRegistry::instance();
  for (const auto& n : graph.nodes) {
    if (!registry.find(n.domain, n.op_type)) {
      missing.insert(n.domain.empty() ? n.op_type : n.domain + "::" + n.op_type);
    }
    for (const auto& [_, a] : n.attributes) {
      if (a.g) collect_missing(*a.g, missing);
      for (const auto& g : a.graphs) collect_missing(*g, missing);
    }
  }
}

}  // namespace

void check_kernels(const ir::Graph& graph) {
  std::set<std::string> missing;
  collect_missing(graph, missing);
  if (missing.empty()) return;
  std::string list;
  for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  raise(ErrorCategory::unsupported_op, "the CPU device has no kernel for: {}", list);
}

ConstantValues constant_values(const ir::Graph& graph) {
  ConstantValues values;
  for (const auto& [name, t] : graph.constants) values.emplace(name, Value(t));
  return values;
}

const Value* Scope::find(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return &it->second;
  it = constants_.find(name);
  if (it != constants_.end()) return &it->second;
  return parent_ ? parent_->find(name) : nullptr;
}

namespace {

int64_t value_bytes(const Value& v) {
  if (v.is_tensor()) return static_cast<int64_t>(v.tensor().byte_size());
  int64_t total = 0;
  if (v.is_sequence())
    for (const auto& t : v.sequence_items()) total += static_cast<int64_t>(t.byte_size());
  return total;
}

}  // namespace

ExecutionPlan::ExecutionPlan(const ir::Graph& graph, const ExecutionPlan* enclosing)
    : constants(constant_values(graph)), dying(ir::values_dying_after(graph)) {
  const auto& registry = KernelRegistry::instance();
  // A constant that is also a graph input is only a default the caller may replace.
  std::unordered_set<std::string> inputs;
  for (const auto& in : graph.inputs) inputs.insert(in.name);
  // Only values this graph's nodes make may be taken over by their last reader: a subgraph's
  // body also reads values of the enclosing graph, which live on after it.
  std::unordered_set<std::string> produced;
  for (const auto& n : graph.nodes) produced.insert(n.outputs.begin(), n.outputs.end());
  for (const auto& [name, _] : graph.constants)
    if (!inputs.count(name)) constant_names.insert(name);
  if (enclosing) {
    for (const auto& name : enclosing->constant_names)
      if (!inputs.count(name) && !produced.count(name) && !graph.constants.count(name))
        constant_names.insert(name);
  }
  for (const auto& n : graph.nodes) {
    kernels.push_back(registry.find(n.domain, n.op_type));
    const std::size_t node = kernels.size() - 1;
    std::vector<bool> constant(n.inputs.size()), last_read(n.inputs.size());
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      const std::string& v = n.inputs[i];
      constant[i] = constant_names.count(v) > 0;
      // Values a node makes (not the caller's inputs, not constants), read here once and last.
      last_read[i] = !v.empty() && produced.count(v) && !graph.constants.count(v) &&
                     !inputs.count(v) && std::count(n.inputs.begin(), n.inputs.end(), v) == 1 &&
                     std::find(dying[node].begin(), dying[node].end(), v) != dying[node].end();
    }
    caches.emplace_back(std::move(constant), std::move(last_read));
  }
}

const ExecutionPlan& ExecutionPlan::subgraph_plan(const ir::Graph& body) const {
  std::lock_guard<std::mutex> lock(subgraph_mutex_);
  std::unique_ptr<ExecutionPlan>& p = subgraph_plans_[&body];
  if (!p) p = std::make_unique<ExecutionPlan>(body, this);
  return *p;
}

void run_nodes(const ir::Graph& graph, Scope& scope, device::RunProfile* profile,
               const ExecutionPlan* plan) {
  const bool time_nodes = profile && profile->time_nodes;
  if (profile) profile->node_ms.assign(time_nodes ? graph.nodes.size() : 0, 0.0);
  ir::LiveBytes live;  // node outputs alive now, for the profile's activation peak
  const auto& registry = KernelRegistry::instance();
  // Intermediate results are released after their last reader.
  const auto dying_here =
      plan ? std::vector<std::vector<std::string>>{} : ir::values_dying_after(graph);
  const auto& dying = plan ? plan->dying : dying_here;

  SubgraphRunner runner = [&scope, plan](const ir::Graph& g, std::vector<Value> feeds) {
    return run_subgraph(g, std::move(feeds), &scope, plan ? &plan->subgraph_plan(g) : nullptr);
  };
  const int team = omp_get_max_threads();
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& node = graph.nodes[i];
    std::vector<const Value*> inputs(node.inputs.size(), nullptr);
    for (std::size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.inputs[k].empty()) continue;
      inputs[k] = scope.find(node.inputs[k]);
      if (!inputs[k]) {
        raise(ErrorCategory::invalid_argument, "{}: input '{}' has no value (graph input not set?)",
              node.label(), node.inputs[k]);
      }
    }
    Kernel kernel = plan ? plan->kernels[i] : registry.find(node.domain, node.op_type);
    if (!kernel) raise(ErrorCategory::unsupported_op, "{}: no CPU kernel", node.label());
    const bool alone = team > 1 && runs_alone(node, inputs);
    OpContext ctx(node, graph.opset(node.domain), std::move(inputs), runner,
                  plan ? &plan->caches[i] : nullptr);
    const auto start = std::chrono::steady_clock::now();
    if (alone) {
      // One thread for this node (its oneDNN primitives are made for one thread too); the
      // team's size is restored whatever the kernel does.
      struct Restore {
        int threads;
        ~Restore() { omp_set_num_threads(threads); }
      } restore{team};
      omp_set_num_threads(1);
      kernel(ctx);
    } else {
      kernel(ctx);
    }
    if (time_nodes) {
      profile->node_ms[i] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
    }
    for (std::size_t k = 0; k < node.outputs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      if (profile) live.add(node.outputs[k], value_bytes(ctx.outputs()[k]));
      scope.set(node.outputs[k], std::move(ctx.outputs()[k]));
    }
    for (const auto& r : dying[i]) {
      scope.erase(r);
      live.release(r);
    }
  }
  if (profile) profile->peak_activation_bytes = live.peak();
}

std::vector<Value> run_subgraph(const ir::Graph& graph, std::vector<Value> feeds,
                                const Scope* parent, const ExecutionPlan* plan) {
  const ConstantValues own_constants = plan ? ConstantValues{} : constant_values(graph);
  Scope scope(plan ? plan->constants : own_constants, parent);
  SINTER_CHECK(feeds.size() <= graph.inputs.size(), invalid_model,
               "subgraph '{}' takes {} inputs but was given {}", graph.name, graph.inputs.size(),
               feeds.size());
  for (std::size_t i = 0; i < feeds.size(); ++i)
    scope.set(graph.inputs[i].name, std::move(feeds[i]));
  run_nodes(graph, scope, nullptr, plan);
  std::vector<Value> outputs;
  for (const auto& o : graph.outputs) {
    const Value* v = scope.find(o.name);
    SINTER_CHECK(v, invalid_model, "subgraph '{}' did not produce output '{}'", graph.name, o.name);
    outputs.push_back(*v);
  }
  return outputs;
}

}  // namespace sinter::cpu
