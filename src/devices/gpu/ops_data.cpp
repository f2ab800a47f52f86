// GPU data movement: reshapes share memory; Transpose, Slice, Expand, Concat and Split are
// strided copies; Gather, GatherND, Tile, Pad and Trilu have kernels of their own.
#include <cstring>
#include <numeric>

#include "devices/gpu/gpu_op.hpp"

namespace sinter::gpu {

namespace {

void alias(GpuOpContext& ctx) {
  ctx.alias_output(0, ctx.input(0));
}

// y[walk over `dims` with out_strides + out_offset] = x[in_strides + in_offset].
void strided_copy(GpuOpContext& ctx, const GTensor& x, const GTensor& y, const Shape& dims,
                  const Shape& in_strides, int64_t in_offset, const Shape& out_strides,
                  int64_t out_offset) {
  Walk w = make_walk(dims, in_strides, out_strides);
  w.offset0 = in_offset;
  w.offset1 = out_offset;
  const int64_t n = element_count(dims);
  ctx.cl.launch_flat(sized_kernel("copy_strided", x.type).c_str(), n, w, x.buf, y.buf, n);
}

void transpose(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> perm(rank);
  std::iota(perm.rbegin(), perm.rend(), 0);
  permute_into(ctx, x, ctx.node.attr_ints("perm", perm), y);
}

void slice(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> starts, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.node.attr_ints("starts", {});
    axes = ctx.node.attr_ints("axes", {});
  } else {
    starts = ctx.input_ints(1);
    if (ctx.has_input(3)) axes = ctx.input_ints(3);
    if (ctx.has_input(4)) steps = ctx.input_ints(4);
  }
  if (axes.empty())
    for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  const Shape xs = row_major_strides(x.shape);
  Shape in_strides = xs;
  int64_t offset = 0;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
    const int64_t d = x.shape[a], s = steps[i];
    int64_t b = starts[i] < 0 ? starts[i] + d : starts[i];
    b = s > 0 ? std::clamp<int64_t>(b, 0, d) : std::clamp<int64_t>(b, 0, d - 1);
    offset += b * xs[a];
    in_strides[a] = xs[a] * s;
  }
  strided_copy(ctx, x, y, y.shape, in_strides, offset, row_major_strides(y.shape), 0);
}

void expand(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  strided_copy(ctx, x, y, y.shape, broadcast_strides(x.shape, y.shape), 0,
               row_major_strides(y.shape), 0);
}

void concat(GpuOpContext& ctx) {
  GTensor& y = ctx.allocate_output(0);
  const int64_t rank = static_cast<int64_t>(y.shape.size());
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  const Shape ys = row_major_strides(y.shape);
  int64_t at = 0;
  for (std::size_t i = 0; i < ctx.input_count(); ++i) {
    if (!ctx.has_input(i)) continue;
    const GTensor& x = ctx.input(i);
    bool fits = x.shape.size() == y.shape.size();
    for (int64_t d = 0; fits && d < rank; ++d) fits = d == axis || x.shape[d] == y.shape[d];
    ctx.check(fits && at + x.shape[axis] <= y.shape[axis], "input {} {} does not fit output {}", i,
              to_string(x.shape), to_string(y.shape));
    if (x.count() > 0)
      strided_copy(ctx, x, y, x.shape, row_major_strides(x.shape), 0, ys, at * ys[axis]);
    at += x.shape[axis];
  }
}

void split(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  const Shape xs = row_major_strides(x.shape);
  int64_t at = 0;
  for (std::size_t k = 0; k < ctx.outputs.size(); ++k) {
    if (ctx.node.outputs[k].empty()) continue;
    GTensor& y = ctx.allocate_output(k);
    if (y.count() > 0)
      strided_copy(ctx, x, y, y.shape, xs, at * xs[axis], row_major_strides(y.shape), 0);
    at += y.shape[axis];
  }
}

void tile(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const Walk w = make_walk(y.shape, row_major_strides(x.shape), x.shape);
  ctx.cl.launch_flat(sized_kernel("tile", x.type).c_str(), y.count(), w, x.buf, y.buf, y.count());
}

// The kernel for indices of idx's type: int64, or int32 (suffix _i32).
std::string indexed_kernel(GpuOpContext& ctx, const std::string& base, const GTensor& idx) {
  if (idx.type == ElementType::i64) return base;
  if (idx.type == ElementType::i32) return base + "_i32";
  ctx.fail("indices of type {} are not implemented", to_string(idx.type));
}

void gather(GpuOpContext& ctx) {
  const GTensor &x = ctx.input(0), &idx = ctx.input(1);
  const std::string kernel = indexed_kernel(ctx, sized_kernel("gather", x.type), idx);
  GTensor& y = ctx.allocate_output(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[d];
  ctx.cl.launch_flat(kernel.c_str(), y.count(), x.buf, idx.buf, y.buf, idx.count(), x.shape[axis],
                     inner, y.count());
}

void gather_nd(GpuOpContext& ctx) {
  const GTensor &x = ctx.input(0), &idx = ctx.input(1);
  const std::string kernel = indexed_kernel(ctx, sized_kernel("gather_nd", x.type), idx);
  GTensor& y = ctx.allocate_output(0);
  const int64_t batch = ctx.node.attr_int("batch_dims", 0), depth = idx.shape.back();
  const Shape xs = row_major_strides(x.shape);
  Shape dims(x.shape.begin() + batch, x.shape.begin() + batch + depth);
  Shape strides(xs.begin() + batch, xs.begin() + batch + depth);
  int64_t slice = 1, batches = 1;
  for (std::size_t d = batch + depth; d < x.shape.size(); ++d) slice *= x.shape[d];
  for (int64_t d = 0; d < batch; ++d) batches *= x.shape[d];
  const int64_t tuples = idx.count() / depth;
  const Walk w = make_walk(dims, strides);
  ctx.cl.launch_flat(kernel.c_str(), y.count(), w, x.buf, idx.buf, y.buf, depth, slice,
                     batch > 0 ? xs[batch - 1] : 0, tuples / batches, y.count());
}

// Pad modes as kernels/data.cl numbers them; -1 for an unknown one.
int pad_mode(const std::string& mode) {
  if (mode == "constant") return 0;
  if (mode == "reflect") return 1;
  if (mode == "edge") return 2;
  if (mode == "wrap") return 3;
  return -1;
}

void cumsum(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = ctx.input_ints(1).at(0);
  if (axis < 0) axis += rank;
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[d];
  const int64_t len = x.shape[axis], lines = len > 0 ? x.count() / len : 0;
  ctx.cl.launch_flat("cumsum_f32", lines, x.buf, y.buf, len, inner,
                     static_cast<int>(ctx.node.attr_int("exclusive", 0)),
                     static_cast<int>(ctx.node.attr_int("reverse", 0)), lines);
}

void pad(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  const std::string mode = ctx.node.attr_string("mode", "constant");
  const int mode_code = pad_mode(mode);
  if (mode_code < 0) ctx.fail("pad mode '{}' is not implemented", mode);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> pads;
  float value = 0;
  if (ctx.opset < 11) {
    pads = ctx.node.attr_ints("pads", {});
    value = ctx.node.attr_float("value", 0);
  } else {
    pads = ctx.input_ints(1);
    if (ctx.has_input(2)) value = static_cast<float>(ctx.input_reals(2).at(0));
  }
  std::vector<int64_t> axes(rank);
  std::iota(axes.begin(), axes.end(), 0);
  if (ctx.has_input(3)) axes = ctx.input_ints(3);
  Shape begin(rank, 0);
  for (std::size_t i = 0; i < axes.size(); ++i)
    begin[axes[i] < 0 ? axes[i] + rank : axes[i]] = pads[i];
  GTensor& y = ctx.allocate_output(0);
  const Walk w = make_walk(y.shape, row_major_strides(x.shape), x.shape, begin);
  ctx.cl.launch_flat("pad_f32", y.count(), w, x.buf, y.buf, mode_code, value, y.count());
}

void trilu(GpuOpContext& ctx) {
  const GTensor& x = ctx.input(0);
  GTensor& y = ctx.allocate_output(0);
  const int64_t k = ctx.has_input(1) ? ctx.input_ints(1).at(0) : 0;
  const int64_t rows = x.shape[x.shape.size() - 2], cols = x.shape.back();
  ctx.cl.launch_flat("trilu_f32", y.count(), x.buf, y.buf, rows, cols, k,
                     static_cast<int>(ctx.node.attr_int("upper", 1)), y.count());
}

// Filled on the host and copied over: the shape is planned, the value an attribute.
void constant_of_shape(GpuOpContext& ctx) {
  const ir::ValueInfo& planned = ctx.planned_output(0);
  Tensor host(planned.type, planned.dims);
  if (const ir::Attribute* a = ctx.node.find("value"); a && !a->t.empty()) {
    const std::size_t size = element_size(planned.type);
    for (int64_t i = 0; i < host.element_count(); ++i)
      std::memcpy(static_cast<char*>(host.data()) + i * size, a->t.data(), size);
  }
  ctx.outputs[0] = upload_tensor(ctx.cl, host);
}

GpuOp op(GpuKernel run, const char* implementation, std::set<ElementType> types = kAnyStored) {
  return {std::move(run), implementation, std::move(types)};
}

}  // namespace

void permute_into(GpuOpContext& ctx, const GTensor& x, const std::vector<int64_t>& perm,
                  const GTensor& y) {
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const Shape xs = row_major_strides(x.shape);
  Shape in_strides;
  for (int64_t p : perm) in_strides.push_back(xs[p < 0 ? p + rank : p]);
  strided_copy(ctx, x, y, y.shape, in_strides, 0, row_major_strides(y.shape), 0);
}

// DepthToSpace / SpaceToDepth are a reshape to 6-d, a permutation and a reshape back:
//   DepthToSpace DCR: [N, b, b, C', H, W] -> (0, 3, 4, 1, 5, 2); CRD: [N, C', b, b, H, W] ->
//   (0, 1, 4, 2, 5, 3); SpaceToDepth: [N, C, H', b, W', b] -> (0, 3, 5, 1, 2, 4).
void depth_space(GpuOpContext& ctx, bool to_space) {
  const GTensor& x = ctx.input(0);
  ctx.check(x.shape.size() == 4, "input must be 4-d [N, C, H, W], is {}", to_string(x.shape));
  const int64_t b = ctx.node.attr_int("blocksize", 0);
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
  ctx.check(b > 0, "blocksize must be positive, is {}", b);
  GTensor viewed = x;
  std::vector<int64_t> perm;
  if (to_space) {
    ctx.check(c % (b * b) == 0, "channels {} are not a multiple of blocksize² {}", c, b * b);
    const bool crd = ctx.node.attr_string("mode", "DCR") == "CRD";
    viewed.shape = crd ? Shape{n, c / (b * b), b, b, h, w} : Shape{n, b, b, c / (b * b), h, w};
    perm = crd ? std::vector<int64_t>{0, 1, 4, 2, 5, 3} : std::vector<int64_t>{0, 3, 4, 1, 5, 2};
  } else {
    ctx.check(h % b == 0 && w % b == 0, "height {} and width {} are not multiples of {}", h, w, b);
    viewed.shape = {n, c, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
  }
  GTensor& y = ctx.allocate_output(0);
  GTensor permuted = y;  // the same buffer, seen 6-d in the permuted order
  permuted.shape.clear();
  for (int64_t p : perm) permuted.shape.push_back(viewed.shape[p]);
  permute_into(ctx, viewed, perm, permuted);
}

void add_data_ops(GpuOpTable& t) {
  for (const char* name : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
    t[name] = op(alias, "shares memory (no copy)");
  t["Dropout"] = op(
      [](GpuOpContext& ctx) {
        if (ctx.outputs.size() > 1 && !ctx.node.outputs[1].empty())
          ctx.fail("the mask output is not implemented");
        alias(ctx);
      },
      "shares memory (inference: identity)", kFloatOnly);
  t["Transpose"] = op(transpose, "OpenCL copy_strided");
  t["DepthToSpace"] = op([](GpuOpContext& ctx) { depth_space(ctx, true); }, "OpenCL copy_strided");
  t["SpaceToDepth"] = op([](GpuOpContext& ctx) { depth_space(ctx, false); }, "OpenCL copy_strided");
  t["Slice"] = op(slice, "OpenCL copy_strided");
  t["Expand"] = op(expand, "OpenCL copy_strided");
  t["Concat"] = op(concat, "OpenCL copy_strided");
  t["Split"] = op(split, "OpenCL copy_strided");
  t["Tile"] = op(tile, "OpenCL tile");
  t["Gather"] = op(gather, "OpenCL gather");
  t["GatherND"] = op(gather_nd, "OpenCL gather_nd");
  t["Pad"] = op(pad, "OpenCL pad_f32", kFloatOnly);
  t["CumSum"] = op(cumsum, "OpenCL cumsum_f32", kFloatOnly);
  t["Trilu"] = op(trilu, "OpenCL trilu_f32", kFloatOnly);
  t["ConstantOfShape"] = op(constant_of_shape, "filled on the host");
  t["Dropout"].check = only_first_output;
  t["Pad"].check = [](const ir::Node& node, const ir::ShapeInference&) {
    const std::string mode = node.attr_string("mode", "constant");
    return pad_mode(mode) >= 0 ? std::string() : "pad mode '" + mode + "' is not implemented";
  };
  // Always folded on the host from the planned shapes; listed so that query() accepts them.
  for (const char* name : {"Shape", "Size", "Constant"})
    t[name] = op([](GpuOpContext& ctx) { ctx.fail("should have been folded on the host"); },
                 "computed on the host from planned shapes", {});
}

}  // namespace sinter::gpu
