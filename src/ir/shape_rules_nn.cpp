// Shape rules: convolution, pooling, matrix products, Resize, recurrent and quantisation ops.
#include <cmath>

#include "ir/shape_rules.hpp"
#include "ir/window_geometry.hpp"

namespace sinter::ir {

namespace {

bool all_known(const std::vector<int64_t>& dims) {
  return product(dims) >= 0;
}

// Conv-like ops: x is input `x_in`, the weights input `w_in`.
void conv(RuleContext& ctx, std::size_t x_in, std::size_t w_in, bool transposed, ElementType type) {
  ctx.out(0) = ValueInfo::of_type(type);
  if (!ctx.has_shape(x_in) || !ctx.has_shape(w_in)) return;
  const auto& x = ctx.in(x_in)->dims;
  const auto& w = ctx.in(w_in)->dims;
  if (x.size() < 3 || w.size() != x.size()) return;
  if (all_known(x) && all_known(w)) {
    ctx.out(0) = ValueInfo::tensor(type, conv_window(ctx.node, x, w, transposed).output_shape);
    return;
  }
  std::vector<int64_t> dims(x.size(), -1);
  dims[0] = x[0];
  const int64_t group = ctx.node.attr_int("group", 1);
  dims[1] = transposed ? (w[1] < 0 ? -1 : w[1] * group) : w[0];
  ctx.out(0) = ValueInfo::tensor(type, dims);
}

void pool(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0) || ctx.in(0)->dims.size() < 3) return;
  const auto& x = ctx.in(0)->dims;
  std::vector<int64_t> dims(x.size(), -1);
  if (all_known(x)) {
    dims = pool_window(ctx.node, x).output_shape;
  } else {
    dims[0] = x[0];
    dims[1] = x[1];
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
  if (ctx.outputs.size() > 1) ctx.out(1) = ValueInfo::tensor(ElementType::i64, dims);
}

void global_pool(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0) || ctx.in(0)->dims.size() < 2) return;
  std::vector<int64_t> dims = ctx.in(0)->dims;
  for (std::size_t i = 2; i < dims.size(); ++i) dims[i] = 1;
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
}

// MatMul-like ops: A is input 0, B is input `b_in`.
void matmul(RuleContext& ctx, ElementType type, std::size_t b_in = 1) {
  ctx.out(0) = ValueInfo::of_type(type);
  if (!ctx.has_shape(0) || !ctx.has_shape(b_in)) return;
  std::vector<int64_t> a = ctx.in(0)->dims, b = ctx.in(b_in)->dims;
  if (a.empty() || b.empty()) return;
  // 1-D operands get a dimension that is removed from the result again (numpy.matmul).
  const bool a_vector = a.size() == 1, b_vector = b.size() == 1;
  if (a_vector) a.insert(a.begin(), 1);
  if (b_vector) b.push_back(1);
  std::vector<int64_t> dims = broadcast_dims({a.begin(), a.end() - 2}, {b.begin(), b.end() - 2});
  if (!a_vector) dims.push_back(a[a.size() - 2]);
  if (!b_vector) dims.push_back(b.back());
  ctx.out(0) = ValueInfo::tensor(type, dims);
}

void gemm(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0) || !ctx.has_shape(1)) return;
  const auto &a = ctx.in(0)->dims, &b = ctx.in(1)->dims;
  if (a.size() != 2 || b.size() != 2) return;
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), {ta ? a[1] : a[0], tb ? b[0] : b[1]});
}

// Resize (opset 11+: roi, scales, sizes) and Upsample / Resize-10 (scales at input 1).
void resize(RuleContext& ctx) {
  ctx.out(0) = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0)) return;
  const auto& x = ctx.in(0)->dims;
  const int64_t rank = static_cast<int64_t>(x.size());
  const bool old_form = ctx.node.op_type == "Upsample" || ctx.opset < 11;
  const ValueInfo* scales = ctx.in(old_form ? 1 : 2);
  const ValueInfo* sizes = old_form ? nullptr : ctx.in(3);
  std::vector<int64_t> axes(rank);
  for (int64_t i = 0; i < rank; ++i) axes[i] = i;
  axes = ctx.node.attr_ints("axes", axes);
  std::vector<int64_t> dims = x;
  if (sizes && tracked(sizes) && sizes->values->size() == axes.size() &&
      ctx.node.attr_string("keep_aspect_ratio_policy", "stretch") == "stretch") {
    for (std::size_t i = 0; i < axes.size(); ++i) {
      if (normalize_axis(axes[i], rank) < 0) return;
      dims[normalize_axis(axes[i], rank)] = (*sizes->values)[i];
    }
  } else if (std::vector<float> attr =
                 ctx.node.find("scales") ? ctx.node.find("scales")->floats : std::vector<float>{};
             !attr.empty() ||
             (scales && scales->real_values && scales->real_values->size() == axes.size())) {
    const std::vector<double> s =
        attr.empty() ? *scales->real_values : std::vector<double>(attr.begin(), attr.end());
    if (s.size() != axes.size()) return;
    for (std::size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = normalize_axis(axes[i], rank);
      if (a < 0) return;
      dims[a] = x[a] < 0 ? -1 : static_cast<int64_t>(std::floor(double(x[a]) * s[i]));
    }
  } else {
    dims.assign(rank, -1);
  }
  ctx.out(0) = ValueInfo::tensor(ctx.type(0), dims);
}

// RNN, GRU, LSTM: Y and the final states (Y_h, Y_c).
void recurrent(RuleContext& ctx) {
  for (auto& o : ctx.outputs) o = ValueInfo::of_type(ctx.type(0));
  if (!ctx.has_shape(0) || ctx.in(0)->dims.size() != 3) return;
  const bool batch_first = ctx.node.attr_int("layout", 0) != 0;
  const auto& x = ctx.in(0)->dims;
  const int64_t seq = batch_first ? x[1] : x[0], batch = batch_first ? x[0] : x[1];
  const int64_t dirs = ctx.node.attr_string("direction", "forward") == "bidirectional" ? 2 : 1;
  const int64_t hidden = ctx.node.attr_int("hidden_size", -1);
  ctx.out(0) =
      ValueInfo::tensor(ctx.type(0), batch_first ? std::vector<int64_t>{batch, seq, dirs, hidden}
                                                 : std::vector<int64_t>{seq, dirs, batch, hidden});
  const std::vector<int64_t> state = batch_first ? std::vector<int64_t>{batch, dirs, hidden}
                                                 : std::vector<int64_t>{dirs, batch, hidden};
  for (std::size_t o = 1; o < ctx.outputs.size(); ++o)
    ctx.out(o) = ValueInfo::tensor(ctx.type(0), state);
}

}  // namespace

void add_nn_rules(RuleTable& rules) {
  rules["Conv"] = [](RuleContext& ctx) { conv(ctx, 0, 1, false, ctx.type(0)); };
  rules["ConvTranspose"] = [](RuleContext& ctx) { conv(ctx, 0, 1, true, ctx.type(0)); };
  rules["ConvInteger"] = [](RuleContext& ctx) { conv(ctx, 0, 1, false, ElementType::i32); };
  rules["QLinearConv"] = [](RuleContext& ctx) { conv(ctx, 0, 3, false, ctx.type(7)); };
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) rules[op] = pool;
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
    rules[op] = global_pool;
  rules["MatMul"] = [](RuleContext& ctx) { matmul(ctx, ctx.type(0)); };
  rules["MatMulInteger"] = [](RuleContext& ctx) { matmul(ctx, ElementType::i32); };
  rules["QLinearMatMul"] = [](RuleContext& ctx) { matmul(ctx, ctx.type(7), 3); };
  rules["Gemm"] = gemm;
  rules["Resize"] = resize;
  rules["Upsample"] = resize;
  for (const char* op : {"RNN", "GRU", "LSTM"}) rules[op] = recurrent;
  rules["QuantizeLinear"] = [](RuleContext& ctx) {
    ctx.same_as_input();
    ctx.out(0).type = ctx.in(2) ? ctx.type(2) : ElementType::u8;
    if (const Attribute* a = ctx.node.find("output_dtype"); a && a->i != 0)
      ctx.out(0).type = ElementType(a->i);
  };
  rules["DynamicQuantizeLinear"] = [](RuleContext& ctx) {
    ctx.out(0) = ctx.has_shape(0) ? ValueInfo::tensor(ElementType::u8, ctx.in(0)->dims)
                                  : ValueInfo::of_type(ElementType::u8);
    ctx.out(1) = ValueInfo::tensor(ElementType::f32, {});
    ctx.out(2) = ValueInfo::tensor(ElementType::u8, {});
  };
  rules["DequantizeLinear"] = [](RuleContext& ctx) {
    ctx.same_as_input();
    ctx.out(0).type = ctx.type(1) == ElementType::undefined ? ElementType::f32 : ctx.type(1);
  };
  rules["RoiAlign"] = [](RuleContext& ctx) {
    ctx.out(0) = ValueInfo::of_type(ctx.type(0));
    if (!ctx.has_shape(0) || !ctx.has_shape(1) || ctx.in(0)->dims.size() != 4) return;
    ctx.out(0) = ValueInfo::tensor(
        ctx.type(0), {ctx.in(1)->dims[0], ctx.in(0)->dims[1], ctx.node.attr_int("output_height", 1),
                      ctx.node.attr_int("output_width", 1)});
  };
  rules["GridSample"] = [](RuleContext& ctx) {
    ctx.out(0) = ValueInfo::of_type(ctx.type(0));
    if (!ctx.has_shape(0) || !ctx.has_shape(1) || ctx.in(0)->dims.size() != 4 ||
        ctx.in(1)->dims.size() != 4)
      return;
    const auto &x = ctx.in(0)->dims, &g = ctx.in(1)->dims;
    ctx.out(0) = ValueInfo::tensor(ctx.type(0), {x[0], x[1], g[1], g[2]});
  };
}

}  // namespace sinter::ir
