// What a CPU kernel sees: its node, its inputs, a place for its outputs, attribute helpers
// and a way to run subgraphs (If/Loop/Scan bodies).
//
//   void relu(OpContext& ctx) {
//     const Tensor& x = ctx.input(0);
//     Tensor y(x.element_type(), x.shape());
//     ...
//     ctx.set_output(0, y);
//   }
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "devices/cpu/node_cache.hpp"
#include "ir/graph.hpp"
#include "sinter/tensor.hpp"

namespace sinter::cpu {

class OpContext;
using Kernel = void (*)(OpContext&);
// Runs `graph` with its inputs bound (by position) to `feeds`; returns its outputs in order.
using SubgraphRunner = std::function<std::vector<Value>(const ir::Graph&, std::vector<Value>)>;

class OpContext {
 public:
  OpContext(const ir::Node& node, int64_t opset, std::vector<const Value*> inputs,
            SubgraphRunner runner, NodeCache* cache = nullptr)
      : node_(node),
        opset_(opset),
        inputs_(std::move(inputs)),
        runner_(std::move(runner)),
        cache_(cache) {
    outputs_.resize(node.outputs.size());
  }

  // This node's cache across runs; nullptr when the node has none (subgraph nodes, tests).
  NodeCache* cache() const { return cache_; }

  const ir::Node& node() const { return node_; }
  int64_t opset() const { return opset_; }

  std::size_t input_count() const { return inputs_.size(); }
  bool has_input(std::size_t i) const { return i < inputs_.size() && inputs_[i]; }
  // The i-th input as a tensor; a clear error when it is missing or not a tensor.
  const Tensor& input(std::size_t i) const;
  const Value& input_value(std::size_t i) const;
  // Input i when this node is its last reader and no other tensor shares its memory: a kernel
  // may write its output into that memory (and return a copy of this tensor as the output).
  // nullptr otherwise, and always where the node has no cache.
  const Tensor* reusable_input(std::size_t i) const {
    const Tensor* t = cache_ && cache_->input_is_last_read(i) ? optional_input(i) : nullptr;
    return t && t->owns_memory_alone() ? t : nullptr;
  }
  // True when input i is a graph constant, the same on every run of this compiled node (false
  // where the node has no cache: subgraph bodies, tests).
  bool input_is_constant(std::size_t i) const { return cache_ && cache_->input_is_constant(i); }
  const Tensor* optional_input(std::size_t i) const {
    return has_input(i) && inputs_[i]->is_tensor() ? &inputs_[i]->tensor() : nullptr;
  }

  std::size_t output_count() const { return outputs_.size(); }
  bool wants_output(std::size_t i) const {
    return i < node_.outputs.size() && !node_.outputs[i].empty();
  }
  void set_output(std::size_t i, Value v) {
    if (i < outputs_.size()) outputs_[i] = std::move(v);
  }
  std::vector<Value>& outputs() { return outputs_; }

  bool has_attr(const std::string& name) const { return node_.find(name) != nullptr; }
  int64_t attr_i(const std::string& name, int64_t fallback) const;
  float attr_f(const std::string& name, float fallback) const;
  std::string attr_s(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& name, std::vector<float> fallback = {}) const;
  const ir::Attribute& attr(const std::string& name) const;  // required
  const ir::Graph& attr_graph(const std::string& name) const;

  // The same node with other input values (e.g. converted copies); `inputs` must outlive it.
  OpContext with_inputs(std::vector<const Value*> inputs) const {
    return OpContext(node_, opset_, std::move(inputs), runner_, cache_);
  }

  std::vector<Value> run_subgraph(const ir::Graph& graph, std::vector<Value> feeds) const {
    return runner_(graph, std::move(feeds));
  }

  // Raises an error that names this node: "node 'x' (Op): <message>".
  template <typename... Args>
  [[noreturn]] void fail(ErrorCategory category, fmt::format_string<Args...> format,
                         Args&&... args) const {
    throw Error(category, node_.label() + ": " + fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void check(bool condition, fmt::format_string<Args...> format, Args&&... args) const {
    if (!condition) fail(ErrorCategory::invalid_argument, format, std::forward<Args>(args)...);
  }

 private:
  const ir::Node& node_;
  int64_t opset_;
  std::vector<const Value*> inputs_;
  std::vector<Value> outputs_;
  SubgraphRunner runner_;
  NodeCache* cache_ = nullptr;
};

}  // namespace sinter::cpu
