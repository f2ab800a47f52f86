// GPU normalisation, softmax and reductions.
#include "devices/gpu/gpu_op.hpp"

namespace sinter::gpu {

namespace {

constexpr std::size_t kRowGroup = 64;  // ROW_GROUP in kernels/norm.cl

int64_t positive_axis(int64_t axis, std::size_t rank) {
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

void batch_norm(GpuOpContext& ctx) {
  if (ctx.node.attr_int("training_mode", 0) != 0) ctx.fail("training_mode is not implemented");
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const int64_t c = x.shape.size() > 1 ? x.shape[1] : 1;
  for (std::size_t i = 1; i <= 4; ++i)
    ctx.check(ctx.input(i).count() == c, "parameter '{}' has {} values for {} channels",
              ctx.node.inputs[i], ctx.input(i).count(), c);
  const int64_t inner = c > 0 ? x.count() / std::max<int64_t>(x.shape[0], 1) / c : 0;
  ctx.cl.launch_flat("batchnorm_f32", y.count(), x.buf, ctx.input(1).buf, ctx.input(2).buf,
                     ctx.input(3).buf, ctx.input(4).buf, y.buf, c, inner,
                     ctx.node.attr_float("epsilon", 1e-5f), y.count());
}

// Rows of `cols` elements normalised; parameters indexed as described in kernels/norm.cl.
void normalize_rows(GpuOpContext& ctx, int64_t rows, int64_t cols, int64_t groups, int64_t per_row,
                    int64_t param_div, const GTensor& scale, const GTensor* bias,
                    bool stats = false) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  // LayerNormalization's optional Mean and InvStdDev outputs, one value per row.
  auto wanted = [&](std::size_t k) {
    return stats && ctx.outputs.size() > k && !ctx.node.outputs[k].empty();
  };
  const bool with_stats = wanted(1) || wanted(2);
  DeviceBuffer mean = y.buf, inv = y.buf;  // unused unless with_stats
  if (with_stats) {
    const std::size_t bytes = static_cast<std::size_t>(rows) * sizeof(float);
    mean = wanted(1) ? ctx.allocate_output(1).buf : ctx.cl.allocate(bytes);
    inv = wanted(2) ? ctx.allocate_output(2).buf : ctx.cl.allocate(bytes);
  }
  if (rows == 0) return;
  ctx.cl.launch("normalize_rows_f32", {static_cast<std::size_t>(rows) * kRowGroup}, {kRowGroup},
                x.buf, scale.buf, bias ? bias->buf : scale.buf, y.buf, cols,
                ctx.node.attr_float("epsilon", 1e-5f), groups, per_row, param_div, bias ? 1 : 0,
                mean, inv, with_stats ? 1 : 0);
}

void layer_norm(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  const int64_t axis = positive_axis(ctx.node.attr_int("axis", -1), x.shape.size());
  int64_t rows = 1, cols = 1;
  for (std::size_t d = 0; d < x.shape.size(); ++d) (int64_t(d) < axis ? rows : cols) *= x.shape[d];
  const GTensor& scale = ctx.input(1);
  if (scale.count() != cols) ctx.fail("a scale that broadcasts is not implemented");
  normalize_rows(ctx, rows, cols, 1, 0, 1, scale, ctx.has_input(2) ? &ctx.input(2) : nullptr, true);
}

void instance_norm(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  const int64_t n = x.shape[0], c = x.shape[1], inner = x.count() / std::max<int64_t>(n * c, 1);
  normalize_rows(ctx, n * c, inner, c, 1, inner, ctx.input(1), &ctx.input(2));
}

void group_norm(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  const int64_t groups = ctx.node.attr_int("num_groups", 1);
  const int64_t n = x.shape[0], c = x.shape[1], inner = x.count() / std::max<int64_t>(n * c, 1);
  const GTensor& scale = ctx.input(1);
  // Opset 18 has one scale per group, opset 21 one per channel.
  if (scale.count() == c)
    normalize_rows(ctx, n * groups, c / groups * inner, groups, c / groups, inner, scale,
                   &ctx.input(2));
  else
    normalize_rows(ctx, n * groups, c / groups * inner, groups, 1, c / groups * inner, scale,
                   &ctx.input(2));
}

void softmax(GpuOpContext& ctx, bool log_softmax) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const int64_t axis =
      positive_axis(ctx.node.attr_int("axis", ctx.opset < 13 ? 1 : -1), x.shape.size());
  int64_t outer = 1, len = 1, inner = 1;
  for (std::size_t d = 0; d < x.shape.size(); ++d) {
    const int64_t v = x.shape[d];
    if (int64_t(d) < axis)
      outer *= v;
    else if (int64_t(d) == axis || ctx.opset < 13)
      len *= v;  // before 13: flattened to 2-d
    else
      inner *= v;
  }
  if (outer * inner * len == 0) return;
  ctx.cl.launch("softmax_f32", {static_cast<std::size_t>(outer * inner) * kRowGroup}, {kRowGroup},
                x.buf, y.buf, len, inner, log_softmax ? 1 : 0);
}

GpuOp reduce(int op) {
  return {[op](GpuOpContext& ctx) {
            const GTensor& x = ctx.input(0);
            GTensor& y = ctx.allocate_output(0);
            const std::size_t rank = x.shape.size();
            std::vector<int64_t> axes;
            if (ctx.node.find("axes"))
              axes = ctx.node.attr_ints("axes", {});
            else if (ctx.has_input(1))
              axes = ctx.input_ints(1);
            std::vector<bool> reduced(rank, axes.empty());
            if (axes.empty() && ctx.node.attr_int("noop_with_empty_axes", 0) != 0)
              reduced.assign(rank, false);
            for (int64_t a : axes) reduced[positive_axis(a, rank)] = true;
            const Shape xs = row_major_strides(x.shape);
            Shape kept, kept_strides, red, red_strides;
            for (std::size_t d = 0; d < rank; ++d) {
              (reduced[d] ? red : kept).push_back(x.shape[d]);
              (reduced[d] ? red_strides : kept_strides).push_back(xs[d]);
            }
            const Walk out = make_walk(kept, kept_strides), walk = make_walk(red, red_strides);
            ctx.cl.launch_flat("reduce_f32", y.count(), op, out, walk, x.buf, y.buf,
                               element_count(red), y.count());
          },
          "OpenCL reduce_f32", kFloatOnly};
}

GpuOp arg_reduce(bool is_min) {
  return {[is_min](GpuOpContext& ctx) {
            const GTensor& x = ctx.input(0);
            GTensor& y = ctx.allocate_output(0);
            const int64_t axis = positive_axis(ctx.node.attr_int("axis", 0), x.shape.size());
            int64_t len = x.shape[axis], inner = 1;
            for (std::size_t d = axis + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
            const char* kernel = x.type == ElementType::i64   ? "arg_reduce_i64"
                                 : x.type == ElementType::i32 ? "arg_reduce_i32"
                                                              : "arg_reduce_f32";
            ctx.cl.launch_flat(kernel, y.count(), x.buf, y.buf, len, inner, is_min ? 1 : 0,
                               static_cast<int>(ctx.node.attr_int("select_last_index", 0)),
                               y.count());
          },
          "OpenCL arg_reduce",
          {ElementType::f32, ElementType::f16, ElementType::i64, ElementType::i32}};
}

}  // namespace

void add_norm_ops(GpuOpTable& t) {
  t["BatchNormalization"] = {batch_norm, "OpenCL batchnorm_f32", kFloatOnly};
  t["BatchNormalization"].check = [](const ir::Node& node, const ir::ShapeInference& shapes) {
    if (node.attr_int("training_mode", 0) != 0)
      return std::string("training_mode is not implemented");
    return only_first_output(node, shapes);
  };
  t["LayerNormalization"] = {layer_norm, "OpenCL normalize_rows_f32", kFloatOnly};
  t["InstanceNormalization"] = {instance_norm, "OpenCL normalize_rows_f32", kFloatOnly};
  t["GroupNormalization"] = {group_norm, "OpenCL normalize_rows_f32", kFloatOnly};
  t["Softmax"] = {[](GpuOpContext& ctx) { softmax(ctx, false); }, "OpenCL softmax_f32", kFloatOnly};
  t["LogSoftmax"] = {[](GpuOpContext& ctx) { softmax(ctx, true); }, "OpenCL softmax_f32",
                     kFloatOnly};
  const char* names[] = {"ReduceSum",    "ReduceMean",      "ReduceMax", "ReduceMin",
                         "ReduceProd",   "ReduceSumSquare", "ReduceL1",  "ReduceL2",
                         "ReduceLogSum", "ReduceLogSumExp"};
  for (int op = 0; op < 10; ++op) t[names[op]] = reduce(op);
  t["ArgMax"] = arg_reduce(false);
  t["ArgMin"] = arg_reduce(true);
}

}  // namespace sinter::gpu
