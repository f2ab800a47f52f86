// GPU convolution, pooling, matrix products and Resize.
#include <cmath>

#include "devices/gpu/gpu_op.hpp"
#include "ir/window_geometry.hpp"

namespace sinter::gpu {

namespace {

// ConvArgs for 1-, 2- or 3-d windows: the spatial dims right-aligned into (d, h, w).
ConvArgs conv_args(GpuOpContext& ctx, const Shape& x, const Shape& y, const ir::WindowGeometry& g) {
  const std::size_t sp = x.size() - 2;
  if (sp < 1 || sp > 3) ctx.fail("{}-d windows are not implemented (1-d to 3-d are)", sp);
  // Spatial value j of 3 (d, h, w) from `v` (sp entries), `fill` where v has none.
  auto at = [sp](const std::vector<int64_t>& v, std::size_t j, int64_t fill) {
    return j + sp < 3 ? fill : v[j + sp - 3];
  };
  const Shape xs(x.begin() + 2, x.end()), ys(y.begin() + 2, y.end());
  ConvArgs p{};
  p.n = x[0];
  p.c = x[1];
  p.oc = y[1];
  p.d = at(xs, 0, 1), p.h = at(xs, 1, 1), p.w = at(xs, 2, 1);
  p.od = at(ys, 0, 1), p.oh = at(ys, 1, 1), p.ow = at(ys, 2, 1);
  p.kd = at(g.kernel, 0, 1), p.kh = at(g.kernel, 1, 1), p.kw = at(g.kernel, 2, 1);
  p.sd = at(g.strides, 0, 1), p.sh = at(g.strides, 1, 1), p.sw = at(g.strides, 2, 1);
  p.pd = at(g.pads_begin, 0, 0), p.ph = at(g.pads_begin, 1, 0), p.pw = at(g.pads_begin, 2, 0);
  p.ped = at(g.pads_end, 0, 0), p.peh = at(g.pads_end, 1, 0), p.pew = at(g.pads_end, 2, 0);
  p.dd = at(g.dilations, 0, 1), p.dh = at(g.dilations, 1, 1), p.dw = at(g.dilations, 2, 1);
  p.group = g.group;
  return p;
}

// Groups with many output channels (ordinary convolutions) run as tiled implicit GEMM;
// depthwise and thin grouped ones as one work item per output element.
bool uses_gemm(int64_t out_channels, int64_t group) {
  return out_channels / group >= 8;
}

void conv(GpuOpContext& ctx, bool transposed) {
  const GTensor &x = ctx.input(0), &w = ctx.input(1);
  ctx.check(x.shape.size() >= 3 && w.shape.size() == x.shape.size(),
            "input {} and weights {} do not fit a convolution", to_string(x.shape),
            to_string(w.shape));
  const int64_t group = ctx.node.attr_int("group", 1);
  ctx.check(transposed ? w.shape[0] == x.shape[1] : w.shape[1] * group == x.shape[1],
            "input {} has {} channels; weights {} with group {} expect another number",
            to_string(x.shape), x.shape[1], to_string(w.shape), group);
  const ir::WindowGeometry g = ir::conv_window(ctx.node, x.shape, w.shape, transposed);
  GTensor& y = ctx.allocate_output(0);
  ConvArgs p = conv_args(ctx, x.shape, y.shape, g);
  p.has_bias = ctx.has_input(2) ? 1 : 0;
  const DeviceBuffer& bias = ctx.has_input(2) ? ctx.input(2).buf : w.buf;
  ctx.cl.launch_flat(transposed ? "conv_transpose_f32" : "conv_f32", y.count(), p, x.buf, w.buf,
                     bias, y.buf, y.count());
}

void pool(GpuOpContext& ctx, int kind) {
  const GTensor& x = ctx.input(0);
  if (ctx.outputs.size() > 1 && !ctx.node.outputs[1].empty())
    ctx.fail("the Indices output is not implemented");
  const ir::WindowGeometry g = ir::pool_window(ctx.node, x.shape);
  GTensor& y = ctx.allocate_output(0);
  ConvArgs p = conv_args(ctx, x.shape, y.shape, g);
  if (kind == 1 && ctx.node.attr_int("count_include_pad", 0) != 0) kind = 2;
  ctx.cl.launch_flat("pool_f32", y.count(), p, kind, x.buf, y.buf, y.count());
}

// Global pools are reductions over every spatial axis.
void global_pool(GpuOpContext& ctx, int reduce_op) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const Shape xs = row_major_strides(x.shape);
  const Shape kept(x.shape.begin(), x.shape.begin() + 2),
      spatial(x.shape.begin() + 2, x.shape.end());
  const Walk out = make_walk(kept, Shape(xs.begin(), xs.begin() + 2));
  const Walk red = make_walk(spatial, Shape(xs.begin() + 2, xs.end()));
  ctx.cl.launch_flat("reduce_f32", y.count(), reduce_op, out, red, x.buf, y.buf,
                     element_count(spatial), y.count());
}

struct MatrixView {
  int64_t rows, cols, row_stride, col_stride;
};

// Y = alpha * A·B (+ beta * C) over broadcast batch dims.
void launch_matmul(GpuOpContext& ctx, const GTensor& a, const GTensor& b, const GTensor* c,
                   const GTensor& y, const MatrixView& av, const MatrixView& bv, const Shape& batch,
                   const Shape& a_batch_strides, const Shape& b_batch_strides, float alpha,
                   float beta) {
  const Walk w = make_walk(batch, a_batch_strides, b_batch_strides);
  int64_t c_rs = 0, c_cs = 0;
  if (c) {  // C broadcasts to [M, N]
    const Shape cs = broadcast_strides(c->shape, {av.rows, bv.cols});
    c_rs = cs[0];
    c_cs = cs[1];
  }
  const std::size_t tile = 16;
  ctx.cl.launch("matmul_f32",
                {static_cast<std::size_t>(bv.cols), static_cast<std::size_t>(av.rows),
                 static_cast<std::size_t>(std::max<int64_t>(element_count(batch), 1))},
                {tile, tile, 1}, w, a.buf, b.buf, c ? c->buf : a.buf, y.buf, av.rows, bv.cols,
                av.cols, av.row_stride, av.col_stride, bv.row_stride, bv.col_stride, c_rs, c_cs,
                c ? 1 : 0, alpha, beta);
}

void matmul(GpuOpContext& ctx) {
  const GTensor &a = ctx.input(0), &b = ctx.input(1);
  GTensor& y = ctx.allocate_output(0);
  Shape as = a.shape, bs = b.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  ctx.check(bs[bs.size() - 2] == K, "inner dimensions of {} and {} differ", to_string(a.shape),
            to_string(b.shape));
  // Batch dims: broadcast of both operands' leading dims.
  const Shape a_lead(as.begin(), as.end() - 2), b_lead(bs.begin(), bs.end() - 2);
  const Shape batch = ir::broadcast_dims(a_lead, b_lead);
  Shape a_bs = broadcast_strides(a_lead, batch), b_bs = broadcast_strides(b_lead, batch);
  for (auto& s : a_bs) s *= M * K;
  for (auto& s : b_bs) s *= K * N;
  launch_matmul(ctx, a, b, nullptr, y, {M, K, K, 1}, {K, N, N, 1}, batch, a_bs, b_bs, 1.0f, 0.0f);
}

void gemm(GpuOpContext& ctx) {
  const GTensor &a = ctx.input(0), &b = ctx.input(1);
  GTensor& y = ctx.allocate_output(0);
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t M = ta ? a.shape[1] : a.shape[0], K = ta ? a.shape[0] : a.shape[1];
  const int64_t N = tb ? b.shape[0] : b.shape[1];
  ctx.check((tb ? b.shape[1] : b.shape[0]) == K, "inner dimensions of {} and {} differ",
            to_string(a.shape), to_string(b.shape));
  const MatrixView av = ta ? MatrixView{M, K, 1, M} : MatrixView{M, K, K, 1};
  const MatrixView bv = tb ? MatrixView{K, N, 1, K} : MatrixView{K, N, N, 1};
  launch_matmul(ctx, a, b, ctx.has_input(2) ? &ctx.input(2) : nullptr, y, av, bv, {}, {}, {},
                ctx.node.attr_float("alpha", 1.0f), ctx.node.attr_float("beta", 1.0f));
}

// Resize of the last two dims: coordinate transforms of the form in = (out + a) * r - b.
void resize(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const std::size_t rank = x.shape.size();
  if (rank < 2) ctx.fail("inputs of rank {} are not implemented", rank);
  for (std::size_t d = 0; d + 2 < rank; ++d)
    if (x.shape[d] != y.shape[d])
      ctx.fail("resizing other than the last two dims is not implemented");
  const std::string mode = ctx.node.attr_string("mode", "nearest");
  if (mode != "nearest" && mode != "linear") ctx.fail("mode '{}' is not implemented", mode);
  const std::string ct = ctx.node.attr_string("coordinate_transformation_mode",
                                              ctx.opset < 11 ? "asymmetric" : "half_pixel");
  const std::string nm = ctx.node.attr_string("nearest_mode", "round_prefer_floor");
  // The scale the spec divides by: the given one when scales are given, else out / in.
  std::vector<double> scales;
  const bool old_form = ctx.node.op_type == "Upsample" || ctx.opset < 11;
  if (ctx.node.find("scales")) {
    for (float f : ctx.node.find("scales")->floats) scales.push_back(f);
  } else if (ctx.has_input(old_form ? 1 : 2) &&
             ctx.planned_input(old_form ? 1 : 2).dims != Shape{0}) {
    scales = ctx.input_reals(old_form ? 1 : 2);
  }
  if (ctx.node.find("axes")) ctx.fail("the axes attribute is not implemented");
  ResizeArgs p{};
  p.h = x.shape[rank - 2];
  p.w = x.shape[rank - 1];
  p.oh = y.shape[rank - 2];
  p.ow = y.shape[rank - 1];
  // in = (out + shift_out) / scale - shift_in; `scale` is out / in for the spec's formulas.
  auto setup = [&](std::size_t axis, int64_t in, int64_t out, float& divisor, float& shift_out,
                   float& shift_in) {
    const double scale = scales.size() == rank ? scales[axis] : double(out) / double(in);
    shift_out = shift_in = 0;
    if (ct == "asymmetric") {
      divisor = float(scale);
    } else if (ct == "half_pixel" || (ct == "pytorch_half_pixel" && out > 1)) {
      divisor = float(scale), shift_out = 0.5f, shift_in = 0.5f;
    } else if (ct == "tf_half_pixel_for_nn") {
      divisor = float(scale), shift_out = 0.5f;
    } else if (ct == "pytorch_half_pixel") {
      divisor = INFINITY;  // a single output sits at input coordinate 0
    } else if (ct == "align_corners") {
      // The spec's resized length is in * scale, not rounded.
      const double resized = scales.size() == rank ? double(in) * scale : double(out);
      divisor = in > 1 && resized > 1 ? float((resized - 1) / double(in - 1)) : INFINITY;
    } else {
      ctx.fail("coordinate_transformation_mode '{}' is not implemented", ct);
    }
  };
  setup(rank - 2, p.h, p.oh, p.scale_h, p.shift_out_h, p.shift_in_h);
  setup(rank - 1, p.w, p.ow, p.scale_w, p.shift_out_w, p.shift_in_w);
  p.linear = mode == "linear" ? 1 : 0;
  if (nm == "round_prefer_floor")
    p.nearest_mode = 0;
  else if (nm == "round_prefer_ceil")
    p.nearest_mode = 1;
  else if (nm == "floor")
    p.nearest_mode = 2;
  else if (nm == "ceil")
    p.nearest_mode = 3;
  else
    ctx.fail("nearest_mode '{}' is not implemented", nm);
  ctx.cl.launch_flat("resize2d_f32", y.count(), p, x.buf, y.buf, y.count());
}

}  // namespace

void batched_matmul(GpuOpContext& ctx, const GTensor& a, const GTensor& c, const GTensor& y,
                    int64_t batch, int64_t M, int64_t K, int64_t N) {
  launch_matmul(ctx, a, c, nullptr, y, {M, K, K, 1}, {K, N, N, 1}, {batch}, {M * K}, {K * N}, 1.0f,
                0.0f);
}

void add_nn_ops(GpuOpTable& t) {
  t["Conv"] = {[](GpuOpContext& ctx) { conv(ctx, false); }, "OpenCL conv_f32 (direct)", kFloatOnly};
  t["Conv"].describe = [](const ir::Node& node, const ir::ShapeInference& shapes) {
    const ir::ValueInfo& w = shapes.values.at(node.inputs.at(1));
    const bool gemm = w.rank_known && !w.dims.empty() && w.dims[0] >= 0 &&
                      uses_gemm(w.dims[0], node.attr_int("group", 1));
    return std::string(gemm ? "OpenCL conv_gemm_f32 (implicit GEMM)" : "OpenCL conv_f32 (direct)");
  };
  t["ConvTranspose"] = {[](GpuOpContext& ctx) { conv(ctx, true); },
                        "OpenCL conv_transpose_f32 (direct)", kFloatOnly};
  t["MaxPool"] = {[](GpuOpContext& ctx) { pool(ctx, 0); }, "OpenCL pool_f32", kFloatOnly};
  t["AveragePool"] = {[](GpuOpContext& ctx) { pool(ctx, 1); }, "OpenCL pool_f32", kFloatOnly};
  t["GlobalAveragePool"] = {[](GpuOpContext& ctx) { global_pool(ctx, 1); }, "OpenCL reduce_f32",
                            kFloatOnly};
  t["GlobalMaxPool"] = {[](GpuOpContext& ctx) { global_pool(ctx, 2); }, "OpenCL reduce_f32",
                        kFloatOnly};
  t["MatMul"] = {matmul, "OpenCL matmul_f32 (16x16 tiles)", kFloatOnly};
  t["Gemm"] = {gemm, "OpenCL matmul_f32 (16x16 tiles)", kFloatOnly};
  t["Resize"] = {resize, "OpenCL resize2d_f32", kFloatOnly};
  for (const char* name : {"Conv", "ConvTranspose", "MaxPool", "AveragePool"})
    t[name].check = window_rank_at_most_3d;
  t["MaxPool"].check = [](const ir::Node& node, const ir::ShapeInference& shapes) {
    return all_checks({only_first_output, window_rank_at_most_3d}, node, shapes);
  };
  t["Resize"].check = [](const ir::Node& node, const ir::ShapeInference&) -> std::string {
    const std::string mode = node.attr_string("mode", "nearest");
    const std::string ct = node.attr_string("coordinate_transformation_mode", "half_pixel");
    if (mode != "nearest" && mode != "linear") return "mode '" + mode + "' is not implemented";
    if (ct == "tf_crop_and_resize" || ct == "half_pixel_symmetric")
      return "coordinate_transformation_mode '" + ct + "' is not implemented";
    if (node.find("axes")) return "the axes attribute is not implemented";
    if (node.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
      return "keep_aspect_ratio_policy is not implemented";
    return "";
  };
}

}  // namespace sinter::gpu
