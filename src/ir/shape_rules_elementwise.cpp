// Shape rules: elementwise, activation, normalisation, comparison and cast ops.
#include <functional>
#include <limits>

#include "ir/shape_rules.hpp"

namespace sinter::ir {

namespace {

// Row-major index into a broadcast operand of shape `dims` for output index `flat` of `out`.
int64_t broadcast_index(const std::vector<int64_t>& out, const std::vector<int64_t>& dims,
                        int64_t flat) {
  int64_t index = 0, stride = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::size_t d = dims.size() - 1 - i, o = out.size() - 1 - i;
    const int64_t coord = (flat / product({out.begin() + o + 1, out.end()})) % out[o];
    if (dims[d] != 1) index += coord * stride;
    stride *= dims[d];
  }
  return index;
}

using IntOp = std::function<int64_t(int64_t, int64_t)>;

// Broadcast `op` over the tracked contents of every input (shape arithmetic on small tensors).
// Malformed nodes (no inputs, contents that do not fill their shape, shapes that do not
// broadcast) leave the output's contents unknown; the kernels report them when they run.
void evaluate_broadcast(RuleContext& ctx, ElementType type, const IntOp& op) {
  if (ctx.inputs.empty()) return;
  for (const auto* in : ctx.inputs)
    if (!tracked(in) || static_cast<int64_t>(in->values->size()) != product(in->dims)) return;
  std::vector<int64_t> dims = ctx.inputs[0]->dims;
  for (const auto* in : ctx.inputs) dims = broadcast_dims(dims, in->dims);
  const int64_t n = product(dims);
  if (n < 0 || n > kMaxTrackedValues) return;
  for (const auto* in : ctx.inputs) {
    if (in->dims.size() > dims.size()) return;
    for (std::size_t i = 0; i < in->dims.size(); ++i) {
      const int64_t d = in->dims[in->dims.size() - 1 - i], o = dims[dims.size() - 1 - i];
      if (d != 1 && d != o) return;
    }
  }
  std::vector<int64_t> result(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t acc = (*ctx.inputs[0]->values)[broadcast_index(dims, ctx.inputs[0]->dims, i)];
    for (std::size_t k = 1; k < ctx.inputs.size(); ++k) {
      const ValueInfo& v = *ctx.inputs[k];
      acc = op(acc, (*v.values)[broadcast_index(dims, v.dims, i)]);
    }
    result[i] = acc;
  }
  set_values(ctx.out(0), type, dims, std::move(result));
}

// Output 0 is the broadcast of every input's shape, with `type`.
void broadcast_shape(RuleContext& ctx, ElementType type) {
  ValueInfo& out = ctx.out(0);
  out = ValueInfo::of_type(type);
  std::vector<int64_t> dims;
  for (std::size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (!ctx.has_shape(i)) return;
    dims = broadcast_dims(dims, ctx.in(i)->dims);
  }
  out = ValueInfo::tensor(type, dims);
}

ShapeRule arithmetic(IntOp op) {
  return [op](RuleContext& ctx) {
    broadcast_shape(ctx, ctx.type(0));
    if (op) evaluate_broadcast(ctx, ctx.type(0), op);
  };
}

ShapeRule comparison(IntOp op) {
  return [op](RuleContext& ctx) {
    broadcast_shape(ctx, ElementType::boolean);
    if (op) evaluate_broadcast(ctx, ElementType::boolean, op);
  };
}

bool is_tracked_type(ElementType t) {
  return t == ElementType::i64 || t == ElementType::i32 || t == ElementType::boolean ||
         t == ElementType::u8;
}

void cast(RuleContext& ctx, ElementType to) {
  ctx.same_as_input();
  ctx.out(0).type = to;
  if (tracked(ctx.in(0)) && is_tracked_type(to)) {
    ctx.out(0).values = ctx.in(0)->values;
    if (to == ElementType::boolean)
      for (auto& v : *ctx.out(0).values) v = v != 0;
  } else if (ctx.in(0) && ctx.in(0)->real_values && !is_tracked_type(to)) {
    ctx.out(0).real_values = ctx.in(0)->real_values;
  }
}

// Outputs 1 and 2 of LayerNormalization: the input's leading dims, ones from `axis` on.
void layer_norm(RuleContext& ctx) {
  ctx.same_as_input();
  if (!ctx.has_shape(0)) return;
  const auto& dims = ctx.in(0)->dims;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), int64_t(dims.size()));
  if (axis < 0) return;
  std::vector<int64_t> stat(dims.begin(), dims.begin() + axis);
  stat.resize(dims.size(), 1);
  const auto stash = static_cast<ElementType>(ctx.node.attr_int("stash_type", 1));
  for (std::size_t o = 1; o < ctx.outputs.size(); ++o) ctx.out(o) = ValueInfo::tensor(stash, stat);
}

}  // namespace

void add_elementwise_rules(RuleTable& rules) {
  const auto same = [](RuleContext& ctx) { ctx.same_as_input(); };
  for (const char* op : {"Abs",
                         "Acos",
                         "Acosh",
                         "Asin",
                         "Asinh",
                         "Atan",
                         "Atanh",
                         "Ceil",
                         "Celu",
                         "Cos",
                         "Cosh",
                         "Elu",
                         "Erf",
                         "Exp",
                         "Floor",
                         "Gelu",
                         "HardSigmoid",
                         "HardSwish",
                         "Hardmax",
                         "LeakyRelu",
                         "Log",
                         "LogSoftmax",
                         "Mish",
                         "Neg",
                         "Not",
                         "Reciprocal",
                         "Relu",
                         "Round",
                         "Selu",
                         "Shrink",
                         "Sigmoid",
                         "Sign",
                         "Sin",
                         "Sinh",
                         "Softmax",
                         "Softplus",
                         "Softsign",
                         "Sqrt",
                         "Tan",
                         "Tanh",
                         "ThresholdedRelu",
                         "Clip",
                         "LRN",
                         "BitwiseNot",
                         "CumSum",
                         "Trilu",
                         "MeanVarianceNormalization",
                         "InstanceNormalization",
                         "GroupNormalization",
                         "LpNormalization",
                         "BatchNormalization",
                         "Swish"})
    rules[op] = same;
  rules["Identity"] = [](RuleContext& ctx) {
    if (ctx.in(0)) ctx.out(0) = *ctx.in(0);
  };
  rules["Dropout"] = [](RuleContext& ctx) {
    ctx.same_as_input();
    if (ctx.outputs.size() > 1 && ctx.has_shape(0))
      ctx.out(1) = ValueInfo::tensor(ElementType::boolean, ctx.in(0)->dims);
  };
  rules["LayerNormalization"] = layer_norm;
  for (const char* op : {"IsNaN", "IsInf"}) {
    rules[op] = [](RuleContext& ctx) {
      ctx.same_as_input();
      ctx.out(0).type = ElementType::boolean;
    };
  }

  rules["Add"] = arithmetic(std::plus<int64_t>());
  rules["Sub"] = arithmetic(std::minus<int64_t>());
  rules["Mul"] = arithmetic(std::multiplies<int64_t>());
  // Integer Div truncates like C++ (the CPU kernel does the same for integer tensors).
  // INT64_MIN / -1 traps on x86 like a division by zero; shape arithmetic never meets either.
  rules["Div"] = arithmetic([](int64_t a, int64_t b) {
    return b == 0 || (b == -1 && a == std::numeric_limits<int64_t>::min()) ? 0 : a / b;
  });
  rules["Max"] = arithmetic([](int64_t a, int64_t b) { return std::max(a, b); });
  rules["Min"] = arithmetic([](int64_t a, int64_t b) { return std::min(a, b); });
  for (const char* op :
       {"Pow", "Mod", "Sum", "Mean", "PRelu", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"})
    rules[op] = arithmetic(nullptr);
  rules["And"] = comparison([](int64_t a, int64_t b) { return a && b; });
  rules["Or"] = comparison([](int64_t a, int64_t b) { return a || b; });
  rules["Xor"] = comparison(nullptr);
  rules["Equal"] = comparison([](int64_t a, int64_t b) { return a == b; });
  rules["Less"] = comparison([](int64_t a, int64_t b) { return a < b; });
  rules["Greater"] = comparison([](int64_t a, int64_t b) { return a > b; });
  rules["LessOrEqual"] = comparison([](int64_t a, int64_t b) { return a <= b; });
  rules["GreaterOrEqual"] = comparison([](int64_t a, int64_t b) { return a >= b; });
  rules["Where"] = [](RuleContext& ctx) {
    broadcast_shape(ctx, ctx.type(1));
    for (const auto* in : ctx.inputs)
      if (!tracked(in)) return;
    std::vector<int64_t> dims =
        broadcast_dims(broadcast_dims(ctx.in(0)->dims, ctx.in(1)->dims), ctx.in(2)->dims);
    const int64_t n = product(dims);
    if (n < 0 || n > kMaxTrackedValues) return;
    std::vector<int64_t> result(n);
    for (int64_t i = 0; i < n; ++i) {
      const auto at = [&](std::size_t k) {
        return (*ctx.in(k)->values)[broadcast_index(dims, ctx.in(k)->dims, i)];
      };
      result[i] = at(0) ? at(1) : at(2);
    }
    set_values(ctx.out(0), ctx.type(1), dims, std::move(result));
  };
  rules["Cast"] = [](RuleContext& ctx) {
    cast(ctx, static_cast<ElementType>(ctx.node.attr_int("to", 0)));
  };
  rules["CastLike"] = [](RuleContext& ctx) { cast(ctx, ctx.type(1)); };
}

}  // namespace sinter::ir
