// GPU elementwise ops: unary activations, broadcasting arithmetic and comparisons, Where, Cast.
#include "devices/gpu/gpu_op.hpp"

namespace sinter::gpu {

namespace {

// Numbers of the `op` switch in kernels/elementwise.cl's unary_f32.
enum UnaryOp {
  kRelu,
  kSigmoid,
  kTanh,
  kExp,
  kLog,
  kSqrt,
  kNeg,
  kAbs,
  kErf,
  kHardSwish,
  kHardSigmoid,
  kLeakyRelu,
  kElu,
  kGeluErf,
  kGeluTanh,
  kSoftplus,
  kClip,
  kReciprocal,
  kFloor,
  kCeil,
  kSin,
  kCos,
  kRound,
  kSign,
  kSwish,
  kSoftsign,
  kMish,
  kCopy,
  kSelu,
  kCelu
};

void launch_unary(GpuOpContext& ctx, int op, float alpha, float beta) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  ctx.cl.launch_flat("unary_f32", y.count(), op, alpha, beta, x.buf, y.buf, y.count());
}

GpuOp unary(int op, float alpha_default = 0, float beta_default = 0, const char* alpha = "alpha",
            const char* beta = "beta") {
  return {[=](GpuOpContext& ctx) {
            launch_unary(ctx, op, ctx.node.attr_float(alpha, alpha_default),
                         ctx.node.attr_float(beta, beta_default));
          },
          "OpenCL unary_f32", kFloatOnly};
}

void clip(GpuOpContext& ctx) {
  float low = -INFINITY, high = INFINITY;
  if (ctx.opset < 11) {
    low = ctx.node.attr_float("min", low);
    high = ctx.node.attr_float("max", high);
  } else {
    if (ctx.has_input(1)) low = static_cast<float>(ctx.input_reals(1).at(0));
    if (ctx.has_input(2)) high = static_cast<float>(ctx.input_reals(2).at(0));
  }
  launch_unary(ctx, kClip, low, high);
}

// Broadcasting binary op on two inputs (Add, Sub, ...); variadic Sum/Max/Min fold pairwise.
void launch_binary(GpuOpContext& ctx, const char* kernel, int op, const GTensor& a,
                   const GTensor& b, GTensor& y) {
  const Walk w =
      make_walk(y.shape, broadcast_strides(a.shape, y.shape), broadcast_strides(b.shape, y.shape));
  ctx.cl.launch_flat(kernel, y.count(), op, w, a.buf, b.buf, y.buf, y.count());
}

GpuOp binary(int op) {
  return {[op](GpuOpContext& ctx) {
            const GTensor& a = ctx.input(0);
            if (ctx.input_count() == 1) {  // Sum, Max, Min of one tensor: that tensor
              ctx.alias_output(0, a);
              return;
            }
            GTensor& y = ctx.allocate_output(0);
            const char* kernel = a.type == ElementType::i64 ? "binary_i64" : "binary_f32";
            for (std::size_t i = 1; i < ctx.input_count(); ++i)
              if (ctx.input(i).type != a.type)
                ctx.fail("mixed element types ({} and {}) are not implemented", to_string(a.type),
                         to_string(ctx.input(i).type));
            if (a.type == ElementType::i64 && (op == 4 || op == 7))
              ctx.fail("this op on i64 is not implemented");
            GTensor b = ctx.input(1);
            // Before opset 7, PRelu's 1-d slope is per channel (axis 1), not right-aligned.
            if (ctx.node.op_type == "PRelu" && ctx.opset < 7 && b.shape.size() == 1 &&
                a.shape.size() > 2 && b.shape[0] == a.shape[1]) {
              b.shape.resize(a.shape.size() - 1, 1);
            }
            launch_binary(ctx, kernel, op, a, b, y);
            // Variadic forms (Sum, Max, Min): accumulate the rest into y.
            for (std::size_t i = 2; i < ctx.input_count(); ++i) {
              GTensor acc = y;
              GTensor next{y.type, y.shape, ctx.cl.allocate(y.bytes())};
              launch_binary(ctx, kernel, op, acc, ctx.input(i), next);
              y = next;
            }
          },
          "OpenCL binary",
          {ElementType::f32, ElementType::f16, ElementType::i64}};
}

GpuOp compare(int op) {
  return {[op](GpuOpContext& ctx) {
            const GTensor& a = ctx.input(0);
            GTensor& y = ctx.allocate_output(0);
            const char* kernel = a.is_float()                 ? "compare_f32"
                                 : a.type == ElementType::i64 ? "compare_i64"
                                                              : "compare_u8";
            if (!a.is_float() && a.type != ElementType::i64 && a.type != ElementType::boolean)
              ctx.fail("comparisons on {} are not implemented", to_string(a.type));
            launch_binary(ctx, kernel, op, a, ctx.input(1), y);
          },
          "OpenCL compare",
          {ElementType::f32, ElementType::f16, ElementType::i64, ElementType::boolean}};
}

void where(GpuOpContext& ctx) {
  const GTensor &c = ctx.input(0), &x = ctx.input(1), &z = ctx.input(2);
  GTensor& y = ctx.allocate_output(0);
  const Walk w =
      make_walk(y.shape, broadcast_strides(c.shape, y.shape), broadcast_strides(x.shape, y.shape),
                broadcast_strides(z.shape, y.shape));
  ctx.cl.launch_flat(sized_kernel("where", y.type).c_str(), y.count(), w, c.buf, x.buf, z.buf,
                     y.buf, y.count());
}

// Kernel name part of a stored type; "f32" kernels read and write the runtime's float storage.
const char* type_tag(ElementType t) {
  switch (t) {
    case ElementType::f32:
    case ElementType::f16:
      return "f32";
    case ElementType::i64:
      return "i64";
    case ElementType::i32:
      return "i32";
    case ElementType::boolean:
    case ElementType::u8:
      return "u8";
    default:
      return nullptr;
  }
}

void cast(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  const ElementType to = ctx.planned_output(0).type;
  const char *from_tag = type_tag(x.type), *to_tag = type_tag(to);
  if (!from_tag || !to_tag)
    ctx.fail("casts from {} to {} are not implemented", to_string(x.type), to_string(to));
  if (std::string(from_tag) == to_tag) {  // same storage: share the buffer
    ctx.alias_output(0, x);
    ctx.outputs[0].type = ctx.cl.stored_as(to);
    return;
  }
  GTensor& y = ctx.allocate_output(0);
  const std::string kernel = std::string("cast_") + from_tag + "_" + to_tag;
  ctx.cl.launch_flat(kernel.c_str(), y.count(), x.buf, y.buf, y.count());
}

std::string same_input_types(const ir::Node& node, const ir::ShapeInference& shapes) {
  ElementType first = ElementType::undefined;
  for (const auto& name : node.inputs) {
    if (name.empty()) continue;
    const ElementType t = shapes.values.at(name).type;
    if (first == ElementType::undefined) first = t;
    if (t != first)
      return fmt::format("mixed input types ({} and {}) are not implemented", to_string(first),
                         to_string(t));
  }
  return "";
}

}  // namespace

void add_elementwise_ops(GpuOpTable& t) {
  t["Relu"] = unary(kRelu);
  t["Sigmoid"] = unary(kSigmoid);
  t["Tanh"] = unary(kTanh);
  t["Exp"] = unary(kExp);
  t["Log"] = unary(kLog);
  t["Sqrt"] = unary(kSqrt);
  t["Neg"] = unary(kNeg);
  t["Abs"] = unary(kAbs);
  t["Erf"] = unary(kErf);
  t["HardSwish"] = unary(kHardSwish);
  t["HardSigmoid"] = unary(kHardSigmoid, 0.2f, 0.5f);
  t["LeakyRelu"] = unary(kLeakyRelu, 0.01f);
  t["Elu"] = unary(kElu, 1.0f);
  t["Selu"] =
      unary(kSelu, 1.67326319217681884765625f, 1.05070102214813232421875f, "alpha", "gamma");
  t["Celu"] = unary(kCelu, 1.0f);
  t["Softplus"] = unary(kSoftplus);
  t["Reciprocal"] = unary(kReciprocal);
  t["Floor"] = unary(kFloor);
  t["Ceil"] = unary(kCeil);
  t["Sin"] = unary(kSin);
  t["Cos"] = unary(kCos);
  t["Round"] = unary(kRound);
  t["Sign"] = unary(kSign);
  t["Softsign"] = unary(kSoftsign);
  t["Mish"] = unary(kMish);
  t["Gelu"] = {[](GpuOpContext& ctx) {
                 launch_unary(
                     ctx,
                     ctx.node.attr_string("approximate", "none") == "tanh" ? kGeluTanh : kGeluErf,
                     0, 0);
               },
               "OpenCL unary_f32", kFloatOnly};
  t["Clip"] = {clip, "OpenCL unary_f32", kFloatOnly};
  t["Add"] = binary(0);
  t["Sub"] = binary(1);
  t["Mul"] = binary(2);
  t["Div"] = binary(3);
  t["Pow"] = binary(4);
  t["Max"] = binary(5);
  t["Min"] = binary(6);
  t["Sum"] = binary(0);
  t["PRelu"] = binary(7);
  t["Equal"] = compare(0);
  t["Less"] = compare(1);
  t["Greater"] = compare(2);
  t["LessOrEqual"] = compare(3);
  t["GreaterOrEqual"] = compare(4);
  t["And"] = compare(5);
  t["Or"] = compare(6);
  t["Xor"] = compare(7);
  t["Not"] = {[](GpuOpContext& ctx) {
                GTensor& y = ctx.allocate_output(0);
                ctx.cl.launch_flat("not_u8", y.count(), ctx.input(0).buf, y.buf, y.count());
              },
              "OpenCL not_u8",
              {ElementType::boolean}};
  t["Where"] = {where, "OpenCL where", {ElementType::boolean}};
  t["Cast"] = {cast, "OpenCL cast", kAnyStored};
  for (const char* name : {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "PRelu", "Equal",
                           "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"})
    t[name].check = same_input_types;
  t["Pow"].input_types = kFloatOnly;
  t["PRelu"].input_types = kFloatOnly;
}

}  // namespace sinter::gpu
