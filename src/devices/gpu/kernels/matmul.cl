// Batched matrix product with broadcasting batch dims, used by MatMul and Gemm:
//   Y[b, m, n] = alpha * sum_k A[b, m, k] * B[b, k, n] + beta * C[m, n]
// A and B are addressed through row/column strides, so transposed operands need no copy; the
// batch offsets come from a Walk over the batch dims (stride0: A, stride1: B). 16x16 tiles in
// local memory.
#define MM_TILE 16

__kernel __attribute__((reqd_work_group_size(MM_TILE, MM_TILE, 1))) void matmul_f32(
    Walk batch, __global const real_t* a, __global const real_t* b, __global const real_t* c,
    __global real_t* y, long M, long N, long K, long a_rs, long a_cs, long b_rs, long b_cs,
    long c_rs, long c_cs, int has_c, float alpha, float beta) {
  __local float ta[MM_TILE][MM_TILE + 1];
  __local float tb[MM_TILE][MM_TILE + 1];
  const long col = get_global_id(0), row = get_global_id(1), bi = get_global_id(2);
  const int lc = get_local_id(0), lr = get_local_id(1);
  const long a0 = walk_offset(&batch, bi, batch.stride0, 0);
  const long b0 = walk_offset(&batch, bi, batch.stride1, 0);
  float acc = 0.0f;
  for (long k0 = 0; k0 < K; k0 += MM_TILE) {
    const long ka = k0 + lc, kb = k0 + lr;
    ta[lr][lc] = row < M && ka < K ? LOAD(a, a0 + row * a_rs + ka * a_cs) : 0.0f;
    tb[lr][lc] = kb < K && col < N ? LOAD(b, b0 + kb * b_rs + col * b_cs) : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = 0; k < MM_TILE; ++k) acc += ta[lr][k] * tb[k][lc];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (row < M && col < N) {
    float r = alpha * acc;
    if (has_c) r += beta * LOAD(c, row * c_rs + col * c_cs);
    STORE(y, (bi * M + row) * N + col, r);
  }
}
