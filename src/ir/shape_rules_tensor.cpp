// Shape rules: shape manipulation, indexing, reductions and the ops exporters use for shape
// arithmetic (Shape, Gather, Concat, Slice, Range, ...), whose small integer results are tracked.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ir/einsum_equation.hpp"
#include "ir/shape_rules.hpp"

namespace sinter::ir {

namespace {

int64_t rank_of(const RuleContext& ctx, std::size_t i) {
  return ctx.has_shape(i) ? static_cast<int64_t>(ctx.in(i)->dims.size()) : -1;
}

// An integer list from an attribute (older opsets) or from a tracked input (newer ones).
std::optional<std::vector<int64_t>> ints_from(const RuleContext& ctx, const char* attr,
                                              std::size_t input) {
  if (const Attribute* a = ctx.node.find(attr)) return a->ints;
  if (tracked(ctx.in(input))) return ctx.in(input)->values;
  return std::nullopt;
}

// Contents pass through an op that only changes the shape (Reshape, Squeeze, ...).
void keep_values(RuleContext& ctx) {
  if (tracked(ctx.in(0)) && ctx.out(0).shape_known()) ctx.out(0).values = ctx.in(0)->values;
}

void shape_op(RuleContext& ctx) {
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) {
    ctx.out(0) = ValueInfo::tensor(ElementType::i64, {-1});
    return;
  }
  auto clamp = [rank](int64_t a) { return std::clamp<int64_t>(a < 0 ? a + rank : a, 0, rank); };
  const int64_t start = clamp(ctx.node.attr_int("start", 0));
  const int64_t end = clamp(ctx.node.attr_int("end", rank));
  const auto& dims = ctx.in(0)->dims;
  std::vector<int64_t> part(dims.begin() + start, dims.begin() + std::max(start, end));
  ctx.out(0) = ValueInfo::tensor(ElementType::i64, {static_cast<int64_t>(part.size())});
  if (std::all_of(part.begin(), part.end(), [](int64_t d) { return d >= 0; }))
    ctx.out(0).values = part;
}

void constant_op(RuleContext& ctx) {
  const Node& n = ctx.node;
  if (const Attribute* a = n.find("value"); a && !a->t.empty()) {
    ctx.out(0) = constant_info(a->t);
  } else if (const Attribute* a = n.find("value_int")) {
    set_values(ctx.out(0), ElementType::i64, {}, {a->i});
  } else if (const Attribute* a = n.find("value_ints")) {
    set_values(ctx.out(0), ElementType::i64, {int64_t(a->ints.size())}, a->ints);
  } else if (const Attribute* a = n.find("value_float")) {
    ctx.out(0) = ValueInfo::tensor(ElementType::f32, {});
    ctx.out(0).real_values = std::vector<double>{a->f};
  } else if (const Attribute* a = n.find("value_floats")) {
    ctx.out(0) = ValueInfo::tensor(ElementType::f32, {int64_t(a->floats.size())});
    ctx.out(0).real_values = std::vector<double>(a->floats.begin(), a->floats.end());
  }
}

void constant_of_shape(RuleContext& ctx) {
  ElementType type = ElementType::f32;
  int64_t fill = 0;
  if (const Attribute* a = ctx.node.find("value"); a && !a->t.empty()) {
    type = a->t.element_type();
    const ValueInfo v = constant_info(a->t);
    if (v.values && !v.values->empty()) fill = v.values->front();
  }
  if (!tracked(ctx.in(0))) {
    ctx.out(0) = ValueInfo::of_type(type);
    if (ctx.has_shape(0) && ctx.in(0)->dims.size() == 1 && ctx.in(0)->dims[0] >= 0)
      ctx.out(0) = ValueInfo::tensor(type, std::vector<int64_t>(ctx.in(0)->dims[0], -1));
    return;
  }
  const std::vector<int64_t> dims = *ctx.in(0)->values;
  ctx.out(0) = ValueInfo::tensor(type, dims);
  const int64_t n = product(dims);
  if (n >= 0 && n <= kMaxTrackedValues && type != ElementType::f32 && type != ElementType::f64 &&
      type != ElementType::f16 && type != ElementType::bf16)
    ctx.out(0).values = std::vector<int64_t>(n, fill);
}

void reshape(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  std::optional<std::vector<int64_t>> target = ints_from(ctx, "shape", 1);
  if (!target) {
    if (ctx.has_shape(1) && ctx.in(1)->dims.size() == 1 && ctx.in(1)->dims[0] >= 0)
      ctx.out(0) = ValueInfo::tensor(ctx.type(0), std::vector<int64_t>(ctx.in(1)->dims[0], -1));
    return;
  }
  std::vector<int64_t> dims = *target;
  const bool allow_zero = ctx.node.attr_int("allowzero", 0) != 0;
  int64_t infer_at = -1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0 && !allow_zero)
      dims[i] = ctx.has_shape(0) && i < ctx.in(0)->dims.size() ? ctx.in(0)->dims[i] : -1;
    else if (dims[i] == -1)
      infer_at = static_cast<int64_t>(i);
  }
  if (infer_at >= 0) {
    dims[infer_at] = 1;
    const int64_t total = ctx.has_shape(0) ? product(ctx.in(0)->dims) : -1;
    const int64_t rest = product(dims);
    dims[infer_at] = total >= 0 && rest > 0 ? total / rest : -1;
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  keep_values(ctx);
}

void flatten(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) return;
  int64_t axis = ctx.node.attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) return;
  const auto& d = ctx.in(0)->dims;
  ctx.out(0) = ValueInfo::tensor(
      ctx.type(0), {product({d.begin(), d.begin() + axis}), product({d.begin() + axis, d.end()})});
  keep_values(ctx);
}

void transpose(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) return;
  std::vector<int64_t> perm(rank);
  std::iota(perm.rbegin(), perm.rend(), 0);
  perm = ctx.node.attr_ints("perm", perm);
  if (static_cast<int64_t>(perm.size()) != rank) return;
  std::vector<int64_t> dims;
  for (int64_t p : perm) {
    if (normalize_axis(p, rank) < 0) return;
    dims.push_back(ctx.in(0)->dims[normalize_axis(p, rank)]);
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  if (rank <= 1) keep_values(ctx);
}

void squeeze(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) return;
  const auto& in = ctx.in(0)->dims;
  std::vector<bool> drop(rank, false);
  if (auto axes = ints_from(ctx, "axes", 1)) {
    for (int64_t a : *axes) {
      if (normalize_axis(a, rank) < 0) return;
      drop[normalize_axis(a, rank)] = true;
    }
  } else if (ctx.in(1)) {
    return;  // axes given at run time
  } else {
    for (int64_t i = 0; i < rank; ++i) {
      if (in[i] < 0) return;  // whether it is 1 decides the rank
      drop[i] = in[i] == 1;
    }
  }
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[i]) dims.push_back(in[i]);
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  keep_values(ctx);
}

void unsqueeze(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const auto axes = ints_from(ctx, "axes", 1);
  if (!axes || !ctx.has_shape(0)) return;
  const int64_t rank = rank_of(ctx, 0) + static_cast<int64_t>(axes->size());
  std::vector<int64_t> dims(rank, -2);
  for (int64_t a : *axes) {
    if (normalize_axis(a, rank) < 0) return;
    dims[normalize_axis(a, rank)] = 1;
  }
  auto next = ctx.in(0)->dims.begin();
  for (auto& d : dims)
    if (d == -2) d = *next++;
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  keep_values(ctx);
}

void concat(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) return;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), rank);
  if (axis < 0) return;
  std::vector<int64_t> dims = ctx.in(0)->dims;
  dims[axis] = 0;
  std::vector<int64_t> values;
  bool all_tracked = rank == 1;
  for (std::size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (rank_of(ctx, i) != rank) return;
    const auto& d = ctx.in(i)->dims;
    dims[axis] = dims[axis] < 0 || d[axis] < 0 ? -1 : dims[axis] + d[axis];
    for (int64_t k = 0; k < rank; ++k)
      if (k != axis && dims[k] < 0) dims[k] = d[k];
    all_tracked = all_tracked && tracked(ctx.in(i));
    if (all_tracked)
      values.insert(values.end(), ctx.in(i)->values->begin(), ctx.in(i)->values->end());
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  if (all_tracked) ctx.out(0).values = values;
}

void split(RuleContext& ctx) {
  const int64_t rank = rank_of(ctx, 0);
  for (auto& o : ctx.outputs) o = ValueInfo::of_type(ctx.type(0));
  if (rank < 0) return;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), rank);
  if (axis < 0) return;
  const int64_t n = static_cast<int64_t>(ctx.outputs.size());
  const int64_t extent = ctx.in(0)->dims[axis];
  std::vector<int64_t> sizes;
  if (auto given = ints_from(ctx, "split", 1)) {
    sizes = *given;
  } else if (ctx.in(1)) {
    return;
  } else if (extent >= 0) {
    // Equal parts; with num_outputs (opset 18) the last part may be smaller.
    const int64_t part = (extent + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::min(part, extent - i * part));
  }
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> dims = ctx.in(0)->dims;
    dims[axis] = i < static_cast<int64_t>(sizes.size()) ? sizes[i] : -1;
    ctx.out(i) = ValueInfo::tensor(ctx.type(0), dims);
  }
}

void slice(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) return;
  const bool from_attrs = ctx.opset < 10;
  const auto starts = from_attrs ? ints_from(ctx, "starts", 99) : ints_from(ctx, "", 1);
  const auto ends = from_attrs ? ints_from(ctx, "ends", 99) : ints_from(ctx, "", 2);
  std::optional<std::vector<int64_t>> axes, steps;
  if (from_attrs ? ctx.node.find("axes") != nullptr : ctx.in(3) != nullptr)
    axes = from_attrs ? ints_from(ctx, "axes", 99) : ints_from(ctx, "", 3);
  else
    axes = std::vector<int64_t>();
  steps = !from_attrs && ctx.in(4) ? ints_from(ctx, "", 4) : std::vector<int64_t>();
  std::vector<int64_t> dims = ctx.in(0)->dims;
  if (!starts || !ends || !axes || !steps || starts->size() != ends->size()) {
    // Which axes change is unknown: every extent may change, the rank does not.
    ctx.out(0) = ValueInfo::tensor(ctx.type(0), std::vector<int64_t>(rank, -1));
    return;
  }
  if (axes->empty())
    for (std::size_t i = 0; i < starts->size(); ++i) axes->push_back(static_cast<int64_t>(i));
  if (steps->empty()) steps->assign(starts->size(), 1);
  std::vector<int64_t> first(rank, 0), step(rank, 1);
  for (std::size_t i = 0; i < axes->size(); ++i) {
    const int64_t a = normalize_axis((*axes)[i], rank);
    if (a < 0 || (*steps)[i] == 0) return;
    const int64_t d = dims[a];
    if (d < 0) continue;
    const int64_t s = (*steps)[i];
    // The spec's clamping: [0, d] going forward, [0, d-1] / [-1, d-1] going backward.
    auto clamp_index = [&](int64_t v, int64_t low, int64_t high) {
      return std::clamp<int64_t>(v < 0 ? v + d : v, low, high);
    };
    const int64_t b = s > 0 ? clamp_index((*starts)[i], 0, d) : clamp_index((*starts)[i], 0, d - 1);
    const int64_t e = s > 0 ? clamp_index((*ends)[i], 0, d) : clamp_index((*ends)[i], -1, d - 1);
    dims[a] = s > 0 ? std::max<int64_t>(0, (e - b + s - 1) / s)
                    : std::max<int64_t>(0, (b - e + (-s) - 1) / (-s));
    first[a] = b;
    step[a] = s;
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  if (rank == 1 && tracked(ctx.in(0)) && dims[0] >= 0) {
    std::vector<int64_t> values;
    for (int64_t i = 0; i < dims[0]; ++i)
      values.push_back((*ctx.in(0)->values)[first[0] + i * step[0]]);
    ctx.out(0).values = values;
  }
}

void gather(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0 || !ctx.has_shape(1)) return;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), rank);
  if (axis < 0) return;
  const auto& d = ctx.in(0)->dims;
  std::vector<int64_t> dims(d.begin(), d.begin() + axis);
  dims.insert(dims.end(), ctx.in(1)->dims.begin(), ctx.in(1)->dims.end());
  dims.insert(dims.end(), d.begin() + axis + 1, d.end());
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  if (rank == 1 && tracked(ctx.in(0)) && tracked(ctx.in(1))) {
    std::vector<int64_t> values;
    for (int64_t i : *ctx.in(1)->values) {
      if (i < 0) i += d[0];
      if (i < 0 || i >= d[0]) return;
      values.push_back((*ctx.in(0)->values)[i]);
    }
    ctx.out(0).values = values;
  }
}

void gather_nd(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0) || !ctx.has_shape(1) || ctx.in(1)->dims.empty()) return;
  const auto& data = ctx.in(0)->dims;
  const auto& idx = ctx.in(1)->dims;
  const int64_t batch = ctx.node.attr_int("batch_dims", 0), last = idx.back();
  if (last < 0 || batch + last > static_cast<int64_t>(data.size())) return;
  std::vector<int64_t> dims(idx.begin(), idx.end() - 1);
  dims.insert(dims.end(), data.begin() + batch + last, data.end());
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
}

void expand(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0) || !tracked(ctx.in(1))) return;
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), broadcast_dims(ctx.in(0)->dims, *ctx.in(1)->values));
}

void tile(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0) || !tracked(ctx.in(1))) return;
  std::vector<int64_t> dims = ctx.in(0)->dims;
  if (ctx.in(1)->values->size() != dims.size()) return;
  for (std::size_t i = 0; i < dims.size(); ++i)
    dims[i] = dims[i] < 0 ? -1 : dims[i] * (*ctx.in(1)->values)[i];
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
}

void pad(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const int64_t rank = rank_of(ctx, 0);
  const auto pads = ints_from(ctx, ctx.opset < 11 ? "pads" : "", 1);
  if (rank < 0) return;
  std::vector<int64_t> axes(rank);
  std::iota(axes.begin(), axes.end(), 0);
  if (ctx.in(3)) {
    if (!tracked(ctx.in(3))) return;
    axes = *ctx.in(3)->values;
  }
  std::vector<int64_t> dims = ctx.in(0)->dims;
  if (!pads || pads->size() != 2 * axes.size()) {
    ctx.out(0) = ValueInfo::tensor(ctx.type(0), std::vector<int64_t>(rank, -1));
    return;
  }
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = normalize_axis(axes[i], rank);
    if (a < 0) return;
    if (dims[a] >= 0) dims[a] += (*pads)[i] + (*pads)[i + axes.size()];
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
}

void range(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), {-1});
  const ValueInfo *start = ctx.in(0), *limit = ctx.in(1), *delta = ctx.in(2);
  if (tracked(start) && tracked(limit) && tracked(delta) && (*delta->values)[0] != 0) {
    const int64_t s = (*start->values)[0], l = (*limit->values)[0], d = (*delta->values)[0];
    const int64_t n = std::max<int64_t>(0, (l - s + d + (d > 0 ? -1 : 1)) / d);
    ctx.out(0).dims = {n};
    if (n <= kMaxTrackedValues) {
      std::vector<int64_t> values;
      for (int64_t i = 0; i < n; ++i) values.push_back(s + i * d);
      ctx.out(0).values = values;
    }
  } else if (start && limit && delta && start->real_values && limit->real_values &&
             delta->real_values && (*delta->real_values)[0] != 0) {
    const double s = (*start->real_values)[0], l = (*limit->real_values)[0];
    ctx.out(0).dims = {
        std::max<int64_t>(0, static_cast<int64_t>(std::ceil((l - s) / (*delta->real_values)[0])))};
  }
}

// ReduceX, ArgMax/ArgMin: the reduced axes become 1 (keepdims) or disappear.
void reduce(RuleContext& ctx, ElementType type, std::optional<std::vector<int64_t>> axes,
            bool all_when_empty) {
  ctx.out(0) = ValueInfo::of_type(type);
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0 || !axes) return;
  const bool keep = ctx.node.attr_int("keepdims", 1) != 0;
  std::vector<bool> reduced(rank, false);
  if (axes->empty() && all_when_empty) reduced.assign(rank, true);
  for (int64_t a : *axes) {
    if (normalize_axis(a, rank) < 0) return;
    reduced[normalize_axis(a, rank)] = true;
  }
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      dims.push_back(ctx.in(0)->dims[i]);
    else if (keep)
      dims.push_back(1);
  }
  ctx.out(0) = ValueInfo::tensor(type, dims);
}

void reduce_op(RuleContext& ctx) {
  std::optional<std::vector<int64_t>> axes;
  if (ctx.node.find("axes"))
    axes = ctx.node.attr_ints("axes", {});
  else if (ctx.in(1))
    axes = ints_from(ctx, "", 1);
  else
    axes = std::vector<int64_t>();
  const bool noop = ctx.node.attr_int("noop_with_empty_axes", 0) != 0;
  if (axes && axes->empty() && noop) {
    ctx.same_as_input();
    return;
  }
  reduce(ctx, ctx.type(0), axes, true);
}

void arg_reduce(RuleContext& ctx) {
  reduce(ctx, ElementType::i64, std::vector<int64_t>{ctx.node.attr_int("axis", 0)}, false);
}

void top_k(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  ctx.out(1) = ValueInfo::of_type(ElementType::i64);
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) return;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), rank);
  if (axis < 0) return;
  std::vector<int64_t> dims = ctx.in(0)->dims;
  const auto k = ctx.opset < 10 ? std::optional(std::vector{ctx.node.attr_int("k", -1)})
                                : ints_from(ctx, "", 1);
  dims[axis] = k && k->size() == 1 ? (*k)[0] : -1;
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  ctx.out(1) = ValueInfo::tensor(ElementType::i64, dims);
}

void depth_space(RuleContext& ctx, bool to_space) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (rank_of(ctx, 0) != 4) return;
  const int64_t b = ctx.node.attr_int("blocksize", 1);
  if (b <= 0 || b > (int64_t{1} << 20)) return;  // malformed: the kernel says so when it runs
  std::vector<int64_t> d = ctx.in(0)->dims;
  auto scale = [](int64_t v, int64_t num, int64_t den) { return v < 0 ? -1 : v * num / den; };
  if (to_space)
    d = {d[0], scale(d[1], 1, b * b), scale(d[2], b, 1), scale(d[3], b, 1)};
  else
    d = {d[0], scale(d[1], b * b, 1), scale(d[2], 1, b), scale(d[3], 1, b)};
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), d);
}

void one_hot(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(2));
  const int64_t rank = rank_of(ctx, 0);
  if (rank < 0) return;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), rank + 1);
  if (axis < 0) return;
  std::vector<int64_t> dims = ctx.in(0)->dims;
  const int64_t depth =
      tracked(ctx.in(1)) && ctx.in(1)->values->size() == 1 ? (*ctx.in(1)->values)[0] : -1;
  dims.insert(dims.begin() + axis, depth);
  ctx.out(0) = ValueInfo::tensor(ctx.type(2), dims);
}

// Einsum: the output subscripts (explicit after "->", else the letters used once, sorted).
void einsum(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  const EinsumEquation eq = parse_einsum(ctx.node.attr_string("equation", ""));
  const std::vector<std::string>& terms = eq.operands;
  if (terms.size() != ctx.inputs.size() || eq.output.find("...") != std::string::npos) return;
  for (const auto& t : terms)
    if (t.find("...") != std::string::npos) return;
  std::map<char, int64_t> extent;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    if (!ctx.has_shape(i) || ctx.in(i)->dims.size() != terms[i].size()) return;
    for (std::size_t k = 0; k < terms[i].size(); ++k) {
      const int64_t d = ctx.in(i)->dims[k];
      int64_t& e = extent.try_emplace(terms[i][k], -1).first->second;
      if (e < 0 || e == 1) e = d;
    }
  }
  std::vector<int64_t> dims;
  for (char c : eq.output) {
    if (!extent.count(c)) return;
    dims.push_back(extent[c]);
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
}

}  // namespace

void add_tensor_rules(RuleTable& rules) {
  rules["OneHot"] = one_hot;
  rules["Einsum"] = einsum;
  rules["ReverseSequence"] = [](RuleContext& ctx) { ctx.same_as_input(); };
  for (const char* op : {"Bernoulli", "RandomUniformLike", "RandomNormalLike"}) {
    rules[op] = [](RuleContext& ctx) {
      ctx.same_as_input();
      if (const Attribute* a = ctx.node.find("dtype")) ctx.out(0).type = ElementType(a->i);
    };
  }
  rules["Det"] = [](RuleContext& ctx) {
    ctx.out(0) = ValueInfo::of_type(ctx.type(0));
    if (rank_of(ctx, 0) >= 2)
      ctx.out(0) = ValueInfo::tensor(
          ctx.type(0), std::vector<int64_t>(ctx.in(0)->dims.begin(), ctx.in(0)->dims.end() - 2));
  };
  rules["Shape"] = shape_op;
  rules["Size"] = [](RuleContext& ctx) {
    ctx.out(0) = ValueInfo::tensor(ElementType::i64, {});
    if (ctx.has_shape(0) && product(ctx.in(0)->dims) >= 0)
      ctx.out(0).values = std::vector<int64_t>{product(ctx.in(0)->dims)};
  };
  rules["Constant"] = constant_op;
  rules["ConstantOfShape"] = constant_of_shape;
  rules["Reshape"] = reshape;
  rules["Flatten"] = flatten;
  rules["Transpose"] = transpose;
  rules["Squeeze"] = squeeze;
  rules["Unsqueeze"] = unsqueeze;
  rules["Concat"] = concat;
  rules["Split"] = split;
  rules["Slice"] = slice;
  rules["Gather"] = gather;
  rules["GatherElements"] = [](RuleContext& ctx) {
    ctx.same_as_input(1);
    ctx.out(0).type = ctx.type(0);
  };
  rules["GatherND"] = gather_nd;
  for (const char* op : {"ScatterND", "ScatterElements", "Scatter"})
    rules[op] = [](RuleContext& ctx) { ctx.same_as_input(); };
  rules["Expand"] = expand;
  rules["Tile"] = tile;
  rules["Pad"] = pad;
  rules["Range"] = range;
  for (const char* op :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
    rules[op] = reduce_op;
  rules["ArgMax"] = arg_reduce;
  rules["ArgMin"] = arg_reduce;
  rules["TopK"] = top_k;
  rules["DepthToSpace"] = [](RuleContext& ctx) { depth_space(ctx, true); };
  rules["SpaceToDepth"] = [](RuleContext& ctx) { depth_space(ctx, false); };
  rules["NonZero"] = [](RuleContext& ctx) {
    ctx.out(0) = ValueInfo::tensor(ElementType::i64, {rank_of(ctx, 0), -1});
  };
  rules["EyeLike"] = [](RuleContext& ctx) {
    ctx.same_as_input();
    if (const Attribute* a = ctx.node.find("dtype")) ctx.out(0).type = ElementType(a->i);
  };
}

}  // namespace sinter::ir
