// Not an architecture: one model exercising the operators whose ONNX backend tests are few and
// small (Einsum, GridSample, RoiAlign, NonMaxSuppression, DFT, STFT), on larger random inputs,
// so that they are checked against ONNX Runtime too.

#include "layers.hpp"
#include "zoo.hpp"

namespace zoo {
namespace {

// Boxes [..., 4] as (x1, y1, x2, y2): a corner in [0, extent), sides in [min_side, max_side).
sinter::Tensor random_boxes(Random& rng, const sinter::Shape& shape, float extent, float min_side,
                            float max_side) {
  sinter::Tensor t(sinter::ElementType::f32, shape);
  for (int64_t i = 0; i < t.element_count() / 4; ++i) {
    float* r = t.data_as<float>() + i * 4;
    r[0] = rng.uniform(0, extent);
    r[1] = rng.uniform(0, extent);
    r[2] = r[0] + rng.uniform(min_side, max_side);
    r[3] = r[1] + rng.uniform(min_side, max_side);
  }
  return t;
}

}  // namespace

void build_operator_mix(const std::string& dir) {
  constexpr int kFloat = onnx::TensorProto::FLOAT;
  ModelBuilder b("operator_mix", 4242);
  const std::string image =
      b.input("image", kFloat, {int64_t{1}, int64_t{3}, int64_t{64}, int64_t{64}});
  const std::string grid =
      b.input("grid", kFloat, {int64_t{1}, int64_t{24}, int64_t{24}, int64_t{2}});
  const std::string rois = b.input("rois", kFloat, {int64_t{5}, int64_t{4}});
  const std::string boxes = b.input("boxes", kFloat, {int64_t{1}, int64_t{50}, int64_t{4}});
  const std::string scores = b.input("scores", kFloat, {int64_t{1}, int64_t{3}, int64_t{50}});
  const std::string signal = b.input("signal", kFloat, {int64_t{2}, int64_t{64}, int64_t{1}});

  const std::string features = relu(b, conv(b, image, {3, 16, 3, 2}));  // [1, 16, 32, 32]
  // A 1x1 convolution and a batched product written as Einsum, and an implicit-output trace.
  const std::string mixed = b.node("Einsum", {features, b.weight("mix", {8, 16}, 0.5f)},
                                   {{"equation", std::string("bchw,oc->bohw")}});
  b.output(mixed, "einsum_mix");
  const std::string seq = b.node("Reshape", {mixed, b.ints("seq", {0, 8, -1})});  // [1, 8, 1024]
  b.output(b.node("Einsum", {seq, seq}, {{"equation", std::string("...ik,...jk->...ij")}}),
           "einsum_gram");
  const std::string square =
      b.node("Slice", {seq, b.ints("s0", {0}), b.ints("s8", {8}), b.ints("ax", {2})});
  b.output(b.node("Einsum", {square}, {{"equation", std::string("bii")}}), "einsum_trace");

  auto grid_sample = [&](const std::string& mode, const std::string& padding, int64_t align) {
    return b.node("GridSample", {features, grid},
                  {{"mode", mode}, {"padding_mode", padding}, {"align_corners", align}});
  };
  b.output(grid_sample("bilinear", "zeros", 0), "grid_bilinear_zeros");
  b.output(grid_sample("bicubic", "border", 1), "grid_bicubic_border");
  b.output(grid_sample("nearest", "reflection", 0), "grid_nearest_reflection");
  b.output(grid_sample("bilinear", "reflection", 1), "grid_bilinear_reflection");

  const std::string batch_index = b.ints("roi_batch", {0, 0, 0, 0, 0});
  auto roi_align = [&](const std::string& mode, int64_t sampling) {
    return b.node("RoiAlign", {features, rois, batch_index},
                  {{"mode", mode},
                   {"output_height", int64_t{7}},
                   {"output_width", int64_t{5}},
                   {"sampling_ratio", sampling},
                   {"spatial_scale", 0.5f}});
  };
  b.output(roi_align("avg", 2), "roi_avg");
  b.output(roi_align("avg", 0), "roi_avg_adaptive");
  b.output(roi_align("max", 2), "roi_max");

  b.output(b.node("NonMaxSuppression",
                  {boxes, scores, b.ints("max_out", {10}), b.floats("iou", {1}, {0.4f}),
                   b.floats("score_min", {1}, {0.2f})}),
           "nms_selected");

  b.output(b.node("DFT", {signal}, {{"axis", int64_t{1}}, {"onesided", int64_t{1}}}), "dft");
  const std::string window =
      b.node("HannWindow", {b.int_scalar("window_size", 16)}, {{"periodic", int64_t{1}}});
  b.output(b.node("STFT", {signal, b.int_scalar("step", 4), window}), "stft");
  b.save(dir + "/model.onnx");

  Random& rng = b.rng();
  write_inputs(
      dir, {"image", "grid", "rois", "boxes", "scores", "signal"},
      {random_floats(rng, {1, 3, 64, 64}, -1.0f, 1.0f),
       random_floats(rng, {1, 24, 24, 2}, -1.2f, 1.2f), random_boxes(rng, {5, 4}, 40, 4, 30),
       random_boxes(rng, {1, 50, 4}, 1.0f, 0.05f, 0.4f), random_floats(rng, {1, 3, 50}, 0.0f, 1.0f),
       random_floats(rng, {2, 64, 1}, -1.0f, 1.0f)});
}

}  // namespace zoo
