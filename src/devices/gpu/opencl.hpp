// A thin, owning layer over the OpenCL C API for the GPU device: handles that release
// themselves, and one place that turns CL error codes into sinter errors (allocation failures
// become out_of_memory, everything else names the call and the code).
//
//   cl::check(clFinish(queue), "clFinish");
//   cl::Handle<cl_mem> buf(clCreateBuffer(ctx, CL_MEM_READ_WRITE, n, nullptr, &err));
#pragma once

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <string>
#include <utility>

namespace sinter::gpu::cl {

// "CL_OUT_OF_RESOURCES (-5)"
std::string error_name(cl_int code);

// Raises sinter::Error when `code` is not CL_SUCCESS; `what` names the call or the step.
void check(cl_int code, const std::string& what);

template <typename T>
struct Releaser;
template <>
struct Releaser<cl_mem> {
  static void release(cl_mem h) { clReleaseMemObject(h); }
};
template <>
struct Releaser<cl_kernel> {
  static void release(cl_kernel h) { clReleaseKernel(h); }
};
template <>
struct Releaser<cl_program> {
  static void release(cl_program h) { clReleaseProgram(h); }
};
template <>
struct Releaser<cl_command_queue> {
  static void release(cl_command_queue h) { clReleaseCommandQueue(h); }
};
template <>
struct Releaser<cl_context> {
  static void release(cl_context h) { clReleaseContext(h); }
};

// Owns one reference to an OpenCL object.
template <typename T>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T h) : h_(h) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (h_) Releaser<T>::release(h_);
    h_ = nullptr;
  }
  T get() const { return h_; }
  explicit operator bool() const { return h_ != nullptr; }

 private:
  T h_ = nullptr;
};

// Device queries.
std::string device_string(cl_device_id device, cl_device_info what);
std::string platform_string(cl_platform_id platform, cl_platform_info what);
template <typename T>
T device_value(cl_device_id device, cl_device_info what) {
  T value{};
  check(clGetDeviceInfo(device, what, sizeof value, &value, nullptr), "clGetDeviceInfo");
  return value;
}

}  // namespace sinter::gpu::cl
