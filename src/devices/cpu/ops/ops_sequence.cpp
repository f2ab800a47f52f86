// Sequence and Optional operators.
#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

Tensor stack_tensors(const OpContext& ctx, const std::vector<Tensor>& items, int64_t axis);

namespace {

int64_t position(const OpContext& ctx, std::size_t input, int64_t size, bool insert) {
  if (!ctx.has_input(input)) return insert ? size : size - 1;
  int64_t p = to_int64_vector(ctx, ctx.input(input))[0];
  const int64_t limit = insert ? size + 1 : size;
  if (p < 0) p += size;
  ctx.check(p >= 0 && p < limit, "position {} is out of range for a sequence of {}", p, size);
  return p;
}

void op_sequence_empty(OpContext& ctx) {
  ctx.set_output(0, Value::sequence({}));
}

void op_sequence_construct(OpContext& ctx) {
  std::vector<Tensor> items;
  for (std::size_t i = 0; i < ctx.input_count(); ++i) items.push_back(ctx.input(i));
  ctx.set_output(0, Value::sequence(std::move(items)));
}

void op_sequence_insert(OpContext& ctx) {
  auto items = ctx.input_value(0).sequence_items();
  const int64_t p = position(ctx, 2, static_cast<int64_t>(items.size()), true);
  items.insert(items.begin() + p, ctx.input(1));
  ctx.set_output(0, Value::sequence(std::move(items)));
}

void op_sequence_at(OpContext& ctx) {
  const auto& items = ctx.input_value(0).sequence_items();
  const int64_t p = position(ctx, 1, static_cast<int64_t>(items.size()), false);
  ctx.set_output(0, items[p]);
}

void op_sequence_erase(OpContext& ctx) {
  auto items = ctx.input_value(0).sequence_items();
  const int64_t p = position(ctx, 1, static_cast<int64_t>(items.size()), false);
  items.erase(items.begin() + p);
  ctx.set_output(0, Value::sequence(std::move(items)));
}

void op_sequence_length(OpContext& ctx) {
  ctx.set_output(
      0, make_i64_tensor({static_cast<int64_t>(ctx.input_value(0).sequence_items().size())}, {}));
}

void op_split_to_sequence(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), x.rank());
  const bool keepdims = ctx.attr_i("keepdims", 1) != 0;
  const int64_t dim = x.shape()[axis];
  std::vector<int64_t> sizes;
  bool drop_axis = false;
  if (const Tensor* s = ctx.optional_input(1)) {
    const auto v = to_int64_vector(ctx, *s);
    if (s->rank() == 0) {
      for (int64_t at = 0; at < dim; at += v[0]) sizes.push_back(std::min(v[0], dim - at));
    } else {
      sizes = v;
    }
  } else {
    sizes.assign(dim, 1);
    drop_axis = !keepdims;
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  std::vector<Tensor> items;
  int64_t start = 0;
  for (int64_t sz : sizes) {
    Shape s = x.shape();
    s[axis] = sz;
    Tensor t(x.element_type(), s);
    for (int64_t o = 0; o < outer; ++o)
      copy_elements(t, o * sz * inner, x, (o * dim + start) * inner, sz * inner);
    if (drop_axis) {
      s.erase(s.begin() + axis);
      t = t.reshaped(s);
    }
    items.push_back(t);
    start += sz;
  }
  ctx.set_output(0, Value::sequence(std::move(items)));
}

void op_concat_from_sequence(OpContext& ctx) {
  const auto& items = ctx.input_value(0).sequence_items();
  ctx.check(!items.empty(), "cannot concatenate an empty sequence");
  const bool new_axis = ctx.attr_i("new_axis", 0) != 0;
  const int64_t rank = items[0].rank() + (new_axis ? 1 : 0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_i("axis", 0), rank);
  if (new_axis) {
    ctx.set_output(0, stack_tensors(ctx, items, axis));
    return;
  }
  Shape s = items[0].shape();
  s[axis] = 0;
  for (const auto& t : items) s[axis] += t.shape()[axis];
  Tensor out(items[0].element_type(), s);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= s[d];
  int64_t offset = 0;
  for (const auto& t : items) {
    const int64_t row = t.shape()[axis] * inner;
    for (int64_t o = 0; o < outer; ++o)
      copy_elements(out, o * s[axis] * inner + offset, t, o * row, row);
    offset += row;
  }
  ctx.set_output(0, out);
}

void op_sequence_map(OpContext& ctx) {
  const ir::Graph& body = ctx.attr_graph("body");
  const std::size_t n = ctx.input_value(0).sequence_items().size();
  std::vector<std::vector<Tensor>> results(ctx.output_count());
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<Value> feeds;
    for (std::size_t k = 0; k < ctx.input_count(); ++k) {
      const Value& v = ctx.input_value(k);
      feeds.push_back(v.is_sequence() ? Value(v.sequence_items().at(i)) : v);
    }
    auto outs = ctx.run_subgraph(body, std::move(feeds));
    for (std::size_t o = 0; o < outs.size() && o < results.size(); ++o)
      results[o].push_back(outs[o].tensor());
  }
  for (std::size_t o = 0; o < results.size(); ++o)
    ctx.set_output(o, Value::sequence(std::move(results[o])));
}

void op_optional(OpContext& ctx) {
  ctx.set_output(0, ctx.has_input(0) ? ctx.input_value(0) : Value());
}

void op_optional_has_element(OpContext& ctx) {
  Tensor t(ElementType::boolean, {});
  t.data_as<bool>()[0] = ctx.has_input(0) && !ctx.input_value(0).is_none();
  ctx.set_output(0, t);
}

void op_optional_get_element(OpContext& ctx) {
  const Value& v = ctx.input_value(0);
  ctx.check(!v.is_none(), "the optional input is empty");
  ctx.set_output(0, v);
}

}  // namespace

void register_sequence_ops(KernelRegistry& r) {
  r.add("SequenceEmpty", op_sequence_empty);
  r.add("SequenceConstruct", op_sequence_construct);
  r.add("SequenceInsert", op_sequence_insert);
  r.add("SequenceAt", op_sequence_at);
  r.add("SequenceErase", op_sequence_erase);
  r.add("SequenceLength", op_sequence_length);
  r.add("SplitToSequence", op_split_to_sequence);
  r.add("ConcatFromSequence", op_concat_from_sequence);
  r.add("SequenceMap", op_sequence_map);
  r.add("Optional", op_optional);
  r.add("OptionalHasElement", op_optional_has_element);
  r.add("OptionalGetElement", op_optional_get_element);
}

}  // namespace sinter::cpu
