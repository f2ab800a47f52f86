// One OpenCL device in use at one float storage type: its context, in-order queue, the program
// built from sinter's kernel sources (once per process, device and storage type), device buffers
// from a reuse pool, and kernel launches.
//
//   ClRuntime& cl = ...;
//   DeviceBuffer buf = cl.allocate(bytes);
//   cl.launch("unary_f32", n, op, alpha, beta, x.mem(), buf->mem, n);
//   cl.download(buf, host_pointer, bytes);
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devices/gpu/opencl.hpp"
#include "sinter/tensor.hpp"

namespace sinter::gpu {

class ClRuntime;

// A device allocation that returns to its runtime's pool when the last owner lets go.
struct Buffer {
  cl_mem mem = nullptr;
  std::size_t bytes = 0;
  ClRuntime* owner = nullptr;
  ~Buffer();
};
using DeviceBuffer = std::shared_ptr<Buffer>;

class ClRuntime {
 public:
  // `float_storage`: how float tensors are kept in device memory, f32 or f16 (`--precision f16`:
  // half the memory and bandwidth; kernels still compute in f32).
  ClRuntime(cl_platform_id platform, cl_device_id device, std::string label,
            ElementType float_storage = ElementType::f32);

  // The element type that holds a tensor of `type` in this runtime's device memory: every
  // float tensor, f32 or f16 in the graph, is kept in the float storage type.
  ElementType stored_as(ElementType type) const {
    return type == ElementType::f32 || type == ElementType::f16 ? float_storage_ : type;
  }
  ElementType float_storage() const { return float_storage_; }

  // Builds the kernel program on first use (from a binary in `cache_dir` when one is there,
  // storing one there otherwise). Returns what happened, for the compile log line.
  std::string ensure_program(const std::string& cache_dir, const std::string& cache_key);

  DeviceBuffer allocate(std::size_t bytes);
  void upload(const DeviceBuffer& buf, const void* data, std::size_t bytes);
  void download(const DeviceBuffer& buf, void* data, std::size_t bytes);
  void finish();

  // Sets each argument in order (cl_mem, integers, floats, structs) and enqueues `global`
  // work items in groups of `local` (0: the driver picks).
  template <typename... Args>
  void launch(const char* kernel, std::vector<std::size_t> global, std::vector<std::size_t> local,
              const Args&... args) {
    cl_kernel k = find_kernel(kernel);
    cl_uint index = 0;
    (set_arg(k, index++, kernel, args), ...);
    enqueue(k, kernel, std::move(global), std::move(local));
  }
  // One work item per element, flat, in groups of kFlatGroup (the global size is rounded up;
  // every flat kernel checks its index against n). A fixed group size also keeps drivers that
  // specialise kernels per group size (PoCL) from compiling each kernel many times.
  static constexpr std::size_t kFlatGroup = 64;
  template <typename... Args>
  void launch_flat(const char* kernel, int64_t n, const Args&... args) {
    if (n > 0) launch(kernel, {static_cast<std::size_t>(n)}, {kFlatGroup}, args...);
  }

  std::size_t max_allocation() const { return max_alloc_; }
  // Held while a graph runs: kernel objects (and their arguments) are shared by every model
  // compiled for this device, so runs on one device take turns.
  std::mutex& run_mutex() { return run_mutex_; }
  void recycle(cl_mem mem, std::size_t bytes);

 private:
  template <typename T>
  void set_arg(cl_kernel k, cl_uint index, const char* kernel, const T& value) {
    cl::check(clSetKernelArg(k, index, sizeof(T), &value),
              std::string("clSetKernelArg #") + std::to_string(index) + " of " + kernel);
  }
  void set_arg(cl_kernel k, cl_uint index, const char* kernel, const DeviceBuffer& buf) {
    set_arg(k, index, kernel, buf->mem);
  }
  cl_kernel find_kernel(const char* name);
  // clBuildProgram; on failure returns the error with the build log, else "".
  std::string build(cl_program program);
  std::string program_binary(cl_program program);
  void enqueue(cl_kernel k, const char* name, std::vector<std::size_t> global,
               std::vector<std::size_t> local);

  cl_device_id device_;
  std::string label_;
  ElementType float_storage_;
  cl::Handle<cl_context> context_;
  cl::Handle<cl_command_queue> queue_;
  cl::Handle<cl_program> program_;
  std::map<std::string, cl::Handle<cl_kernel>> kernels_;
  std::size_t max_alloc_ = 0;
  // Frees every pooled buffer (after an allocation failure, before retrying).
  void release_pool();

  std::mutex build_mutex_;
  std::mutex run_mutex_;
  mutable std::mutex pool_mutex_;
  std::multimap<std::size_t, cl_mem> pool_;
  std::size_t pooled_bytes_ = 0;
  // Freed buffers beyond this many bytes go back to the driver instead of the pool, so that a
  // model that is gone does not keep its memory from other processes (a quarter of the device).
  std::size_t pool_cap_ = 0;
};

}  // namespace sinter::gpu
