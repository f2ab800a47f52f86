// Attention (domain sinter.cpu, made by attention_fusion.cpp): softmax(scale Q K + mask) V for
// f32 tensors [..., M, D], [..., D, N], [..., N, Dv] with NumPy broadcasting of the leading
// dimensions (and of the mask to [..., M, N]). Blocks of query rows run in parallel; each
// block's scores live in a per-thread buffer (rows x N), never in a tensor. Transposes the
// fusion absorbed (splitting and merging heads) are read and written through strides: inputs
// with q_perm / k_perm / v_perm are Transpose(input, perm), and with out_perm the output is
// Transpose(result, out_perm).
#include <algorithm>
#include <exception>
#include <mutex>

#include <omp.h>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/attention_tiles.hpp"
#include "devices/cpu/ops/linalg.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "devices/cpu/tensor_util.hpp"

namespace sinter::cpu {

namespace {

constexpr int64_t kRowsPerBlock = 32;  // sgemm's blocks

// The tiles' query rows per block: as many as they take (each block reads all of a head's keys
// and values once, so larger blocks read them less often), fewer where that would leave
// threads without a block (a few heads of short sequences).
int64_t tile_block_rows(int64_t batches, int64_t rows) {
  const int64_t threads = omp_get_max_threads();
  int64_t block = attention_tiles::max_block_rows();
  while (block > 16 && batches * ((rows + block - 1) / block) < 2 * threads) block /= 2;
  return block;
}

Shape leading(const Shape& s) {
  return s.size() < 2 ? Shape{} : Shape(s.begin(), s.end() - 2);
}

bool is_permutation_of_axes(const std::vector<int64_t>& perm, std::size_t rank) {
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[p]) return false;
    seen[p] = true;
  }
  return perm.size() == rank;
}

// An operand as the kernel reads it: the logical tensor Transpose(data, perm) (perm from an
// absorbed Transpose; none is the identity), addressed through strides into the data.
struct Operand {
  Shape shape;                   // logical
  std::vector<int64_t> strides;  // of the logical dimensions, in elements of the data
};

Operand operand(const OpContext& ctx, const Tensor& t, const char* perm_attr) {
  const std::vector<int64_t> perm = ctx.attr_ints(perm_attr, {});
  const std::vector<int64_t> data_strides = strides_of(t.shape());
  if (perm.empty()) return {t.shape(), data_strides};
  ctx.check(static_cast<int64_t>(perm.size()) == t.rank(), "{} {} does not fit input {}", perm_attr,
            to_string(Shape(perm.begin(), perm.end())), to_string(t.shape()));
  Operand o;
  for (int64_t p : perm) {
    ctx.check(p >= 0 && p < t.rank(), "{} names axis {} of a rank-{} input", perm_attr, p,
              t.rank());
    o.shape.push_back(t.shape()[p]);
    o.strides.push_back(data_strides[p]);
  }
  return o;
}

// How sgemm reads the last two logical dimensions of an operand: one of them must be
// contiguous (an absorbed Transpose that moves the data's last axis elsewhere is not fused).
struct MatrixAccess {
  bool transposed = false;
  int64_t ld = 0;
};

MatrixAccess matrix_access(const OpContext& ctx, const Operand& o, const char* name) {
  const std::size_t r = o.shape.size();
  const int64_t row_stride = o.strides[r - 2], col_stride = o.strides[r - 1];
  if (col_stride == 1 || o.shape[r - 1] == 1)
    return {false, std::max<int64_t>({row_stride, o.shape[r - 1], 1})};
  ctx.check(row_stride == 1 || o.shape[r - 2] == 1,
            "{} has neither of its last two axes contiguous", name);
  return {true, std::max<int64_t>({col_stride, o.shape[r - 2], 1})};
}

// Element offsets of an operand's matrix for every index of the broadcast batch shape.
std::vector<int64_t> batch_offsets(const Operand& o, const Shape& batch) {
  const std::size_t ob = o.shape.size() - 2, pad = batch.size() - ob;
  std::vector<int64_t> strides(batch.size(), 0);
  for (std::size_t j = 0; j < ob; ++j) strides[pad + j] = o.shape[j] == 1 ? 0 : o.strides[j];
  std::vector<int64_t> offsets(static_cast<std::size_t>(element_count(batch)));
  for_each_index2(batch, strides, strides, [&](int64_t i, int64_t off, int64_t) {
    offsets[static_cast<std::size_t>(i)] = off;
  });
  return offsets;
}

void op_attention(OpContext& ctx) {
  const Tensor& q_data = ctx.input(0);
  const Tensor& k_data = ctx.input(1);
  const Tensor& v_data = ctx.input(2);
  const Tensor* mask = ctx.optional_input(3);
  for (const Tensor* t : {&q_data, &k_data, &v_data, mask}) {
    if (!t) continue;
    ctx.check(t->element_type() == ElementType::f32 && (t == mask || t->rank() >= 2),
              "expects f32 Q, K, V of rank 2 or more (and an f32 mask), got {} {}",
              to_string(t->element_type()), to_string(t->shape()));
  }
  const Operand q = operand(ctx, q_data, "q_perm"), k = operand(ctx, k_data, "k_perm"),
                v = operand(ctx, v_data, "v_perm");
  const std::size_t qr = q.shape.size(), kr = k.shape.size(), vr = v.shape.size();
  const int64_t M = q.shape[qr - 2], D = q.shape[qr - 1];
  const int64_t N = k.shape[kr - 1], Dv = v.shape[vr - 1];
  ctx.check(k.shape[kr - 2] == D && v.shape[vr - 2] == N,
            "Q {}, K {} and V {} do not chain as [M,D] x [D,N] x [N,Dv]", to_string(q.shape),
            to_string(k.shape), to_string(v.shape));
  Shape batch = broadcast_shapes(ctx, broadcast_shapes(ctx, leading(q.shape), leading(k.shape)),
                                 leading(v.shape));
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
  // The result O [batch..., M, Dv]; with an absorbed output Transpose (out_perm) the tensor
  // written is Transpose(O, out_perm), and O is addressed through its strides.
  Shape o_shape = batch;
  o_shape.push_back(M);
  o_shape.push_back(Dv);
  const std::vector<int64_t> out_perm = ctx.attr_ints("out_perm", {});
  Shape out_shape = o_shape;
  std::vector<int64_t> o_strides = strides_of(o_shape);
  if (!out_perm.empty()) {
    ctx.check(is_permutation_of_axes(out_perm, o_shape.size()) &&
                  out_perm.back() == static_cast<int64_t>(o_shape.size()) - 1,
              "out_perm {} does not fit the result {} (its last axis must stay last)",
              to_string(Shape(out_perm.begin(), out_perm.end())), to_string(o_shape));
    for (std::size_t i = 0; i < out_perm.size(); ++i) out_shape[i] = o_shape[out_perm[i]];
    const std::vector<int64_t> written = strides_of(out_shape);
    for (std::size_t i = 0; i < out_perm.size(); ++i) o_strides[out_perm[i]] = written[i];
  }
  Tensor out = Tensor::uninitialized(ElementType::f32, out_shape);
  const int64_t batches = element_count(batch);
  if (out.element_count() == 0) {
    ctx.set_output(0, out);
    return;
  }
  const MatrixAccess qa = matrix_access(ctx, q, "Q"), ka = matrix_access(ctx, k, "K"),
                     va = matrix_access(ctx, v, "V");
  const auto q_off = batch_offsets(q, batch);
  const auto k_off = batch_offsets(k, batch);
  const auto v_off = batch_offsets(v, batch);
  const auto o_off = batch_offsets({o_shape, o_strides}, batch);
  const int64_t ldo = std::max<int64_t>(o_strides[o_strides.size() - 2], Dv);
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
  const float* pq = q_data.data_as<float>();
  const float* pk = k_data.data_as<float>();
  const float* pv = v_data.data_as<float>();
  const float* pm = mask ? mask->data_as<float>() : nullptr;
  float* po = out.data_as<float>();
  // Where query row r0 of a block starts in Q and in O.
  const int64_t q_row = qa.transposed ? 1 : qa.ld, o_row = ldo;
  const auto tiles = attention_tiles::tiles_for(ctx.attr_i("compute_bf16", 0) != 0);
  std::exception_ptr failure;  // the first error of any thread (buffers that could not grow)
  std::mutex failure_mutex;
  if (tiles && D > 0 && N > 0 && Dv > 0) {
    const int64_t block_rows = tile_block_rows(batches, M);
    const int64_t blocks = (M + block_rows - 1) / block_rows;
    const std::size_t qr2 = q.shape.size() - 2, kr2 = k.shape.size() - 2, vr2 = v.shape.size() - 2;
#pragma omp parallel
    {
      attention_tiles::PackedHead head;
      attention_tiles::BlockScratch scratch;
      int64_t packed_k = -1, packed_v = -1;  // offsets of the head packed on this thread
#pragma omp for schedule(static)
      for (int64_t task = 0; task < batches * blocks; ++task) {
        const int64_t b = task / blocks, r0 = (task % blocks) * block_rows;
        const int64_t rows = std::min(block_rows, M - r0);
        try {
          // Blocks of one head follow each other in a thread's share: it packs each head once.
          if (k_off[b] != packed_k || v_off[b] != packed_v) {
            attention_tiles::pack_head(
                *tiles, {pk + k_off[b], D, N, k.strides[kr2], k.strides[kr2 + 1]},
                {pv + v_off[b], N, Dv, v.strides[vr2], v.strides[vr2 + 1]}, head);
            packed_k = k_off[b];
            packed_v = v_off[b];
          }
          const float* mrow = pm ? pm + m_off[b] + r0 * m_row : nullptr;
          attention_tiles::attend(
              {pq + q_off[b] + r0 * q.strides[qr2], rows, D, q.strides[qr2], q.strides[qr2 + 1]},
              scale, head, mrow, m_row, m_col, po + o_off[b] + r0 * o_row, ldo, scratch);
        } catch (...) {
          std::lock_guard<std::mutex> lock(failure_mutex);
          if (!failure) failure = std::current_exception();
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
    ctx.set_output(0, out);
    return;
  }
  const int64_t blocks = (M + kRowsPerBlock - 1) / kRowsPerBlock;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(kRowsPerBlock * N)), inv_sums(kRowsPerBlock);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < batches * blocks; ++task) {
      const int64_t b = task / blocks, r0 = (task % blocks) * kRowsPerBlock;
      const int64_t rows = std::min(kRowsPerBlock, M - r0);
      try {
        // Inside a parallel region oneDNN's sgemm runs on this thread alone.
        gemm_f32(qa.transposed, ka.transposed, rows, N, D, scale, pq + q_off[b] + r0 * q_row, qa.ld,
                 pk + k_off[b], ka.ld, 0.f, scores.data(), N);
        for (int64_t i = 0; i < rows; ++i) {
          float* row = scores.data() + i * N;
          if (pm) {
            const float* mrow = pm + m_off[b] + (r0 + i) * m_row;
            for (int64_t j = 0; j < N; ++j) row[j] += mrow[j * m_col];
          }
          inv_sums[i] = 1.f / vec::softmax_numerators(row, N);
        }
        // The softmax's division is done on the product's rows (Dv values each) instead of
        // the probabilities (N values each).
        float* o = po + o_off[b] + r0 * o_row;
        gemm_f32(false, va.transposed, rows, Dv, N, 1.f, scores.data(), N, pv + v_off[b], va.ld,
                 0.f, o, ldo);
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t c = 0; c < Dv; ++c) o[i * ldo + c] *= inv_sums[i];
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
