// Attention (domain sinter.cpu, made by attention_fusion.cpp): softmax(scale Q K + mask) V for
// f32 tensors [..., M, D], [..., D, N], [..., N, Dv] with NumPy broadcasting of the leading
// dimensions (and of the mask to [..., M, N]). Blocks of query rows run in parallel; each
// block's scores live in a per-thread buffer (rows x N), never in a tensor.
#include <algorithm>
#include <exception>
#include <mutex>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/linalg.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

constexpr int64_t kRowsPerBlock = 32;

Shape leading(const Shape& s) {
  return s.size() < 2 ? Shape{} : Shape(s.begin(), s.end() - 2);
}

// Element offsets of each operand's matrix for every index of the broadcast batch shape.
std::vector<int64_t> batch_offsets(const Shape& batch_of_operand, const Shape& batch,
                                   int64_t matrix_size) {
  const auto strides = broadcast_strides(batch_of_operand, batch);
  std::vector<int64_t> offsets(static_cast<std::size_t>(element_count(batch)));
  for_each_index2(batch, strides, strides,
                  [&](int64_t i, int64_t o, int64_t) { offsets[i] = o * matrix_size; });
  return offsets;
}

void op_attention(OpContext& ctx) {
  const Tensor& q = ctx.input(0);
  const Tensor& k = ctx.input(1);
  const Tensor& v = ctx.input(2);
  const Tensor* mask = ctx.optional_input(3);
  for (const Tensor* t : {&q, &k, &v, mask}) {
    if (!t) continue;
    ctx.check(t->element_type() == ElementType::f32 && (t == mask || t->rank() >= 2),
              "expects f32 Q, K, V of rank 2 or more (and an f32 mask), got {} {}",
              to_string(t->element_type()), to_string(t->shape()));
  }
  const int64_t M = q.shape()[q.rank() - 2], D = q.shape()[q.rank() - 1];
  const int64_t N = k.shape()[k.rank() - 1], Dv = v.shape()[v.rank() - 1];
  ctx.check(k.shape()[k.rank() - 2] == D && v.shape()[v.rank() - 2] == N,
            "Q {}, K {} and V {} do not chain as [M,D] x [D,N] x [N,Dv]", to_string(q.shape()),
            to_string(k.shape()), to_string(v.shape()));
  Shape batch = broadcast_shapes(ctx, broadcast_shapes(ctx, leading(q.shape()), leading(k.shape())),
                                 leading(v.shape()));
  // The mask broadcasts to the scores [batch..., M, N].
  std::vector<int64_t> mask_strides;
  if (mask) {
    Shape mask_batch = mask->rank() > 2 ? leading(mask->shape()) : Shape{};
    batch = broadcast_shapes(ctx, batch, mask_batch);
    Shape scores = batch;
    scores.push_back(M);
    scores.push_back(N);
    broadcast_shapes(ctx, scores, mask->shape());  // an error naming the shapes if it does not
    mask_strides = broadcast_strides(mask->shape(), scores);
  }
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(Dv);
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  const int64_t batches = element_count(batch);
  if (out.element_count() == 0) {
    ctx.set_output(0, out);
    return;
  }
  const auto q_off = batch_offsets(leading(q.shape()), batch, M * D);
  const auto k_off = batch_offsets(leading(k.shape()), batch, D * N);
  const auto v_off = batch_offsets(leading(v.shape()), batch, N * Dv);
  // The mask's offset of each batch index, and its strides along rows and columns.
  std::vector<int64_t> m_off(batches, 0);
  int64_t m_row = 0, m_col = 0;
  if (mask) {
    const std::size_t r = mask_strides.size();
    m_row = mask_strides[r - 2];
    m_col = mask_strides[r - 1];
    const std::vector<int64_t> bs(mask_strides.begin(), mask_strides.end() - 2);
    for_each_index2(batch, bs, bs, [&](int64_t i, int64_t o, int64_t) { m_off[i] = o; });
  }
  const float scale = ctx.attr_f("scale", 1.f);
  const int64_t blocks = (M + kRowsPerBlock - 1) / kRowsPerBlock;
  const float* pq = q.data_as<float>();
  const float* pk = k.data_as<float>();
  const float* pv = v.data_as<float>();
  const float* pm = mask ? mask->data_as<float>() : nullptr;
  float* po = out.data_as<float>();
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(kRowsPerBlock * N));
#pragma omp for schedule(static)
    for (int64_t task = 0; task < batches * blocks; ++task) {
      const int64_t b = task / blocks, r0 = (task % blocks) * kRowsPerBlock;
      const int64_t rows = std::min(kRowsPerBlock, M - r0);
      try {
        // Inside a parallel region oneDNN's sgemm runs on this thread alone.
        gemm_f32(false, false, rows, N, D, scale, pq + q_off[b] + r0 * D, D, pk + k_off[b], N, 0.f,
                 scores.data(), N);
        for (int64_t i = 0; i < rows; ++i) {
          float* row = scores.data() + i * N;
          if (pm) {
            const float* mrow = pm + m_off[b] + (r0 + i) * m_row;
            for (int64_t j = 0; j < N; ++j) row[j] += mrow[j * m_col];
          }
          vec::softmax(row, N);
        }
        gemm_f32(false, false, rows, Dv, N, 1.f, scores.data(), N, pv + v_off[b], Dv, 0.f,
                 po + (b * M + r0) * Dv, Dv);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
  ctx.set_output(0, out);
}

}  // namespace

void register_fused_attention_ops(KernelRegistry& r) {
  r.add("Attention", op_attention, kCpuDomain);
}

}  // namespace sinter::cpu
