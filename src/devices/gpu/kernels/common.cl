// Shared definitions of sinter's OpenCL kernels. The host mirrors these structs exactly
// (src/devices/gpu/kernel_args.hpp): only 8-byte fields, so both sides lay them out alike.
#define MAX_RANK 8

// An N-d walk: the output's dims, and for up to three operands the element strides that each
// output coordinate moves them by (0 on broadcast dims), plus a starting offset per operand.
typedef struct {
  long rank;
  long dims[MAX_RANK];
  long stride0[MAX_RANK];
  long stride1[MAX_RANK];
  long stride2[MAX_RANK];
  long offset0, offset1, offset2;
} Walk;

// Offset of flat output index `i` in operand `strides` (row-major coordinates of `dims`).
inline long walk_offset(const Walk* w, long i, const long* strides, long offset) {
  long off = offset;
  for (long d = w->rank - 1; d >= 0; --d) {
    const long c = i % w->dims[d];
    i /= w->dims[d];
    off += c * strides[d];
  }
  return off;
}

// Float tensors live in device memory as `real_t`: float, or half when the program is built with
// SINTER_F16_STORAGE (`--precision f16`). vload_half / vstore_half are core OpenCL C, so half
// storage needs no cl_khr_fp16; arithmetic is always float. Every float tensor is read and
// written through LOAD / STORE; PLAIN_LOAD / PLAIN_STORE serve the other element types.
#ifdef SINTER_F16_STORAGE
#define real_t half
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half((v), (i), (p))
#else
#define real_t float
#define LOAD(p, i) ((p)[(i)])
#define STORE(p, i, v) ((p)[(i)] = (v))
#endif
#define PLAIN_LOAD(p, i) ((p)[(i)])
#define PLAIN_STORE(p, i, v) ((p)[(i)] = (v))
