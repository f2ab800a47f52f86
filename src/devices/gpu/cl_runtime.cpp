#include "devices/gpu/cl_runtime.hpp"

#include <chrono>

#include "base/errors.hpp"
#include "base/logging.hpp"
#include "devices/gpu/program_cache.hpp"

namespace sinter::gpu {

// The kernel sources, embedded at build time (CMake writes this from kernels/*.cl).
extern const char* const kKernelSource;

Buffer::~Buffer() {
  if (owner && mem) owner->recycle(mem, bytes);
}

ClRuntime::ClRuntime(cl_platform_id platform, cl_device_id device, std::string label,
                     ElementType float_storage)
    : device_(device), label_(std::move(label)), float_storage_(float_storage) {
  SINTER_CHECK(float_storage == ElementType::f32 || float_storage == ElementType::f16, internal,
               "{}: float storage {} is not one the kernels know", label_,
               to_string(float_storage));
  cl_int err = CL_SUCCESS;
  const cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                         reinterpret_cast<cl_context_properties>(platform), 0};
  context_ = cl::Handle<cl_context>(clCreateContext(props, 1, &device, nullptr, nullptr, &err));
  cl::check(err, "clCreateContext for " + label_);
  queue_ = cl::Handle<cl_command_queue>(clCreateCommandQueue(context_.get(), device, 0, &err));
  cl::check(err, "clCreateCommandQueue for " + label_);
  max_alloc_ = cl::device_value<cl_ulong>(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
  pool_cap_ = cl::device_value<cl_ulong>(device, CL_DEVICE_GLOBAL_MEM_SIZE) / 4;
}

std::string ClRuntime::build(cl_program program) {
  const char* options =
      float_storage_ == ElementType::f16 ? "-cl-std=CL1.2 -DSINTER_F16_STORAGE" : "-cl-std=CL1.2";
  const cl_int err = clBuildProgram(program, 1, &device_, options, nullptr, nullptr);
  if (err == CL_SUCCESS) return "";
  std::size_t size = 0;
  clGetProgramBuildInfo(program, device_, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size);
  std::string log(size, '\0');
  clGetProgramBuildInfo(program, device_, CL_PROGRAM_BUILD_LOG, size, log.data(), nullptr);
  return cl::error_name(err) + ": " + log.substr(0, 4000);
}

std::string ClRuntime::program_binary(cl_program program) {
  std::size_t size = 0;
  if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) !=
          CL_SUCCESS ||
      size == 0)
    return "";
  std::string binary(size, '\0');
  unsigned char* data = reinterpret_cast<unsigned char*>(binary.data());
  if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof data, &data, nullptr) != CL_SUCCESS)
    return "";
  return binary;
}

std::string ClRuntime::ensure_program(const std::string& cache_dir, const std::string& cache_key) {
  std::lock_guard<std::mutex> lock(build_mutex_);
  if (program_) return "OpenCL program already built in this process";
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  cl_int err = CL_SUCCESS;
  if (auto binary = load_program_binary(cache_dir, cache_key)) {
    const unsigned char* data = reinterpret_cast<const unsigned char*>(binary->data());
    const std::size_t size = binary->size();
    cl_int status = CL_SUCCESS;
    cl::Handle<cl_program> program(
        clCreateProgramWithBinary(context_.get(), 1, &device_, &size, &data, &status, &err));
    const std::string failure = err != CL_SUCCESS || status != CL_SUCCESS
                                    ? cl::error_name(err != CL_SUCCESS ? err : status)
                                    : build(program.get());
    if (failure.empty()) {
      program_ = std::move(program);
      return fmt::format("OpenCL program loaded from the cache in {:.0f} ms", elapsed_ms());
    }
    drop_program_binary(cache_dir, cache_key, "the driver rejected it: " + failure);
  }
  const char* source = kKernelSource;
  cl::Handle<cl_program> program(
      clCreateProgramWithSource(context_.get(), 1, &source, nullptr, &err));
  cl::check(err, "clCreateProgramWithSource");
  if (const std::string failure = build(program.get()); !failure.empty())
    raise(ErrorCategory::device_error, "{}: building sinter's OpenCL kernels failed: {}", label_,
          failure);
  store_program_binary(cache_dir, cache_key, program_binary(program.get()));
  program_ = std::move(program);
  return fmt::format("OpenCL program built in {:.0f} ms{}", elapsed_ms(),
                     cache_dir.empty() ? "" : " and stored in the cache");
}

cl_kernel ClRuntime::find_kernel(const char* name) {
  auto it = kernels_.find(name);
  if (it != kernels_.end()) return it->second.get();
  cl_int err = CL_SUCCESS;
  cl::Handle<cl_kernel> k(clCreateKernel(program_.get(), name, &err));
  cl::check(err, std::string("clCreateKernel ") + name);
  return kernels_.emplace(name, std::move(k)).first->second.get();
}

void ClRuntime::enqueue(cl_kernel k, const char* name, std::vector<std::size_t> global,
                        std::vector<std::size_t> local) {
  for (std::size_t g : global)
    if (g == 0) return;  // an empty tensor: nothing to compute (OpenCL refuses a 0-sized range)
  if (!local.empty()) {
    for (std::size_t i = 0; i < global.size(); ++i)
      global[i] = (global[i] + local[i] - 1) / local[i] * local[i];  // whole groups
  }
  cl::check(clEnqueueNDRangeKernel(queue_.get(), k, static_cast<cl_uint>(global.size()), nullptr,
                                   global.data(), local.empty() ? nullptr : local.data(), 0,
                                   nullptr, nullptr),
            std::string("running kernel ") + name);
}

DeviceBuffer ClRuntime::allocate(std::size_t bytes) {
  bytes = std::max<std::size_t>(bytes, 4);  // OpenCL refuses empty buffers
  if (bytes > max_alloc_) {
    raise(ErrorCategory::out_of_memory,
          "{}: a buffer of {} bytes is larger than the largest allocation the device allows "
          "({} bytes); use a smaller input size or HETERO:{},CPU",
          label_, bytes, max_alloc_, label_);
  }
  auto buf = std::make_shared<Buffer>();
  buf->bytes = bytes;
  buf->owner = this;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    auto it = pool_.find(bytes);
    if (it != pool_.end()) {
      buf->mem = it->second;
      pooled_bytes_ -= it->first;
      pool_.erase(it);
      return buf;
    }
  }
  cl_int err = CL_SUCCESS;
  buf->mem = clCreateBuffer(context_.get(), CL_MEM_READ_WRITE, bytes, nullptr, &err);
  if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES) {
    release_pool();  // buffers kept for reuse (e.g. of models no longer loaded) go first
    buf->mem = clCreateBuffer(context_.get(), CL_MEM_READ_WRITE, bytes, nullptr, &err);
  }
  if (err != CL_SUCCESS) buf->owner = nullptr;
  cl::check(err, "allocating " + std::to_string(bytes) + " bytes on " + label_);
  return buf;
}

void ClRuntime::recycle(cl_mem mem, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (pooled_bytes_ + bytes > pool_cap_) {
    clReleaseMemObject(mem);
    return;
  }
  pool_.emplace(bytes, mem);
  pooled_bytes_ += bytes;
}

void ClRuntime::release_pool() {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  for (const auto& [_, mem] : pool_) clReleaseMemObject(mem);
  pool_.clear();
  pooled_bytes_ = 0;
}

void ClRuntime::upload(const DeviceBuffer& buf, const void* data, std::size_t bytes) {
  if (bytes == 0) return;
  cl::check(
      clEnqueueWriteBuffer(queue_.get(), buf->mem, CL_TRUE, 0, bytes, data, 0, nullptr, nullptr),
      "copying " + std::to_string(bytes) + " bytes to " + label_);
}

void ClRuntime::download(const DeviceBuffer& buf, void* data, std::size_t bytes) {
  if (bytes == 0) return;
  cl::check(
      clEnqueueReadBuffer(queue_.get(), buf->mem, CL_TRUE, 0, bytes, data, 0, nullptr, nullptr),
      "copying " + std::to_string(bytes) + " bytes from " + label_);
}

void ClRuntime::finish() {
  cl::check(clFinish(queue_.get()), "waiting for " + label_);
}

}  // namespace sinter::gpu
