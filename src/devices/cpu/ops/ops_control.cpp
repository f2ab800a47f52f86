// Control flow: If, Loop, Scan. Bodies run through the subgraph runner, reading the enclosing
// scope for outer names.
#include <cstring>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

// Stacks equally shaped tensors along a new axis `axis`.
Tensor stack_tensors(const OpContext& ctx, const std::vector<Tensor>& items, int64_t axis) {
  ctx.check(!items.empty(), "cannot stack an empty list of tensors");
  const Tensor& first = items[0];
  for (const auto& t : items) {
    ctx.check(t.shape() == first.shape() && t.element_type() == first.element_type(),
              "stacked tensors differ: {}{} vs {}{}", to_string(t.element_type()),
              to_string(t.shape()), to_string(first.element_type()), to_string(first.shape()));
  }
  Shape s = first.shape();
  s.insert(s.begin() + axis, static_cast<int64_t>(items.size()));
  Tensor out(first.element_type(), s);
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= first.shape()[d];
  const int64_t inner = outer ? first.element_count() / outer : 0;
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k = 0; k < n; ++k)
      copy_elements(out, (o * n + k) * inner, items[k], o * inner, inner);
  }
  return out;
}

namespace {

bool truthy(const OpContext& ctx, const Tensor& t) {
  ctx.check(t.element_count() == 1, "condition must have one element, got shape {}",
            to_string(t.shape()));
  return scalar_as_double(ctx, t) != 0;
}

void op_if(OpContext& ctx) {
  const bool cond = truthy(ctx, ctx.input(0));
  const ir::Graph& branch = ctx.attr_graph(cond ? "then_branch" : "else_branch");
  auto outs = ctx.run_subgraph(branch, {});
  ctx.check(outs.size() == ctx.output_count(), "branch returned {} values for {} outputs",
            outs.size(), ctx.output_count());
  for (std::size_t i = 0; i < outs.size(); ++i) ctx.set_output(i, std::move(outs[i]));
}

void op_loop(OpContext& ctx) {
  const ir::Graph& body = ctx.attr_graph("body");
  int64_t max_trips = std::numeric_limits<int64_t>::max();
  if (const Tensor* m = ctx.optional_input(0)) max_trips = to_int64_vector(ctx, *m)[0];
  bool cond = true;
  if (const Tensor* c = ctx.optional_input(1)) cond = truthy(ctx, *c);
  std::vector<Value> carried;
  for (std::size_t i = 2; i < ctx.input_count(); ++i) {
    carried.push_back(ctx.has_input(i) ? ctx.input_value(i) : Value());
  }
  const std::size_t n_carried = carried.size();
  ctx.check(body.outputs.size() >= 1 + n_carried, "body has too few outputs");
  const std::size_t n_scan = body.outputs.size() - 1 - n_carried;
  std::vector<std::vector<Tensor>> scans(n_scan);
  for (int64_t it = 0; it < max_trips && cond; ++it) {
    std::vector<Value> feeds;
    feeds.push_back(make_i64_tensor({it}, {}));
    Tensor c(ElementType::boolean, {});
    c.data_as<bool>()[0] = cond;
    feeds.push_back(c);
    for (auto& v : carried) feeds.push_back(v);
    auto outs = ctx.run_subgraph(body, std::move(feeds));
    cond = truthy(ctx, outs[0].tensor());
    for (std::size_t i = 0; i < n_carried; ++i) carried[i] = std::move(outs[1 + i]);
    for (std::size_t i = 0; i < n_scan; ++i) scans[i].push_back(outs[1 + n_carried + i].tensor());
  }
  for (std::size_t i = 0; i < n_carried; ++i) ctx.set_output(i, carried[i]);
  for (std::size_t i = 0; i < n_scan; ++i) {
    if (scans[i].empty()) {
      const auto& port = body.outputs[1 + n_carried + i];
      ctx.set_output(
          n_carried + i,
          Tensor(port.element_type == ElementType::undefined ? ElementType::f32 : port.element_type,
                 {0}));
    } else {
      ctx.set_output(n_carried + i, stack_tensors(ctx, scans[i], 0));
    }
  }
}

// Slice `t` at index k of `axis`, dropping that axis.
Tensor take_along(const OpContext& ctx, const Tensor& t, int64_t axis, int64_t k) {
  Shape s = t.shape();
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  const int64_t n = s[axis];
  const int64_t inner = outer > 0 && n > 0 ? t.element_count() / (outer * n) : 0;
  s.erase(s.begin() + axis);
  Tensor out(t.element_type(), s);
  (void)ctx;
  for (int64_t o = 0; o < outer; ++o) copy_elements(out, o * inner, t, (o * n + k) * inner, inner);
  return out;
}

// Scan at opset 8: every state and scan input has a leading batch axis (scan inputs iterate
// over axis 1), an optional first input gives each batch row's sequence length, and
// `directions` says which scan inputs run backwards. Each batch row is an independent scan;
// scan outputs are zero beyond a row's length.
void op_scan_batched(OpContext& ctx) {
  const ir::Graph& body = ctx.attr_graph("body");
  const int64_t m = ctx.attr_i("num_scan_inputs", 0);
  const int64_t n_inputs = static_cast<int64_t>(ctx.input_count()) - 1;  // without sequence_lens
  const int64_t n_state = n_inputs - m;
  const int64_t k_out = static_cast<int64_t>(ctx.output_count()) - n_state;
  ctx.check(m > 0 && n_state >= 0, "needs num_scan_inputs in [1, {}]", n_inputs);
  const auto dirs = ctx.attr_ints("directions", std::vector<int64_t>(m, 0));
  const Tensor& first = ctx.input(1 + n_state);
  ctx.check(first.rank() >= 2, "scan inputs need [batch, sequence, ...], got {}",
            to_string(first.shape()));
  const int64_t batch = first.shape()[0], seq = first.shape()[1];
  std::vector<int64_t> lengths(batch, seq);
  if (const Tensor* l = ctx.optional_input(0)) lengths = to_int64_vector(ctx, *l);
  ctx.check(static_cast<int64_t>(lengths.size()) == batch,
            "sequence_lens has {} entries for {} rows", lengths.size(), batch);
  std::vector<std::vector<Tensor>> final_states(n_state), scanned(k_out);
  for (int64_t b = 0; b < batch; ++b) {
    ctx.check(lengths[b] >= 0 && lengths[b] <= seq, "sequence length {} outside [0, {}]",
              lengths[b], seq);
    std::vector<Value> state;
    for (int64_t i = 0; i < n_state; ++i) state.push_back(take_along(ctx, ctx.input(1 + i), 0, b));
    std::vector<Tensor> rows;
    for (int64_t j = 0; j < m; ++j) {
      const Tensor& t = ctx.input(1 + n_state + j);
      ctx.check(t.rank() >= 2 && t.shape()[0] == batch && t.shape()[1] == seq,
                "scan input {} has shape {}, expected [{}, {}, ...]", j, to_string(t.shape()),
                batch, seq);
      rows.push_back(take_along(ctx, t, 0, b));
    }
    std::vector<std::vector<Tensor>> steps(k_out);
    for (int64_t s = 0; s < lengths[b]; ++s) {
      std::vector<Value> feeds = state;
      for (int64_t j = 0; j < m; ++j)
        feeds.push_back(take_along(ctx, rows[j], 0, dirs[j] ? lengths[b] - 1 - s : s));
      auto res = ctx.run_subgraph(body, std::move(feeds));
      for (int64_t i = 0; i < n_state; ++i) state[i] = res[i];
      for (int64_t i = 0; i < k_out; ++i) steps[i].push_back(res[n_state + i].tensor());
    }
    for (int64_t i = 0; i < n_state; ++i) final_states[i].push_back(state[i].tensor());
    for (int64_t i = 0; i < k_out; ++i) {
      ctx.check(!steps[i].empty(), "Scan with zero iterations has no output shape");
      Shape shape = steps[i][0].shape();
      shape.insert(shape.begin(), seq);
      Tensor padded(steps[i][0].element_type(), shape);  // zero-filled
      const int64_t each = steps[i][0].element_count();
      for (size_t s = 0; s < steps[i].size(); ++s)
        copy_elements(padded, static_cast<int64_t>(s) * each, steps[i][s], 0, each);
      scanned[i].push_back(padded);
    }
  }
  for (int64_t i = 0; i < n_state; ++i) ctx.set_output(i, stack_tensors(ctx, final_states[i], 0));
  for (int64_t i = 0; i < k_out; ++i)
    ctx.set_output(n_state + i, stack_tensors(ctx, scanned[i], 0));
}

void op_scan(OpContext& ctx) {
  if (ctx.opset() < 9) return op_scan_batched(ctx);
  const ir::Graph& body = ctx.attr_graph("body");
  const int64_t m = ctx.attr_i("num_scan_inputs", 0);
  const int64_t n_inputs = static_cast<int64_t>(ctx.input_count());
  const int64_t n_state = n_inputs - m;
  const auto in_axes = ctx.attr_ints("scan_input_axes", std::vector<int64_t>(m, 0));
  const auto in_dirs = ctx.attr_ints("scan_input_directions", std::vector<int64_t>(m, 0));
  const int64_t k_out = static_cast<int64_t>(ctx.output_count()) - n_state;
  const auto out_axes = ctx.attr_ints("scan_output_axes", std::vector<int64_t>(k_out, 0));
  const auto out_dirs = ctx.attr_ints("scan_output_directions", std::vector<int64_t>(k_out, 0));
  std::vector<Value> state;
  for (int64_t i = 0; i < n_state; ++i) state.push_back(ctx.input_value(i));
  int64_t steps = -1;
  std::vector<int64_t> axes(m);
  for (int64_t j = 0; j < m; ++j) {
    const Tensor& t = ctx.input(n_state + j);
    axes[j] = normalize_axis(ctx, in_axes[j], t.rank());
    const int64_t len = t.shape()[axes[j]];
    ctx.check(steps < 0 || steps == len, "scan inputs have different lengths");
    steps = len;
  }
  std::vector<std::vector<Tensor>> outs(k_out);
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<Value> feeds = state;
    for (int64_t j = 0; j < m; ++j) {
      const int64_t k = in_dirs[j] ? steps - 1 - s : s;
      feeds.push_back(take_along(ctx, ctx.input(n_state + j), axes[j], k));
    }
    auto res = ctx.run_subgraph(body, std::move(feeds));
    for (int64_t i = 0; i < n_state; ++i) state[i] = res[i];
    for (int64_t i = 0; i < k_out; ++i) outs[i].push_back(res[n_state + i].tensor());
  }
  for (int64_t i = 0; i < n_state; ++i) ctx.set_output(i, state[i]);
  for (int64_t i = 0; i < k_out; ++i) {
    if (out_dirs[i]) std::reverse(outs[i].begin(), outs[i].end());
    ctx.check(!outs[i].empty(), "Scan with zero iterations has no output shape");
    const int64_t axis = normalize_axis(ctx, out_axes[i], outs[i][0].rank() + 1);
    ctx.set_output(n_state + i, stack_tensors(ctx, outs[i], axis));
  }
}

}  // namespace

void register_control_ops(KernelRegistry& r) {
  r.add("If", op_if);
  r.add("Loop", op_loop);
  r.add("Scan", op_scan);
}

}  // namespace sinter::cpu
