#include "devices/gpu/gpu_enumeration.hpp"

#include <algorithm>
#include <cstdlib>
#include <tuple>

#include "base/host_memory.hpp"
#include "base/logging.hpp"

namespace sinter::gpu {

extern const char* const kKernelSourceHash;

namespace {

// PCI location from the vendor extensions that report it; {-1} when none does.
std::tuple<int64_t, int64_t, int64_t> pci_location(cl_device_id d, const std::string& ext) {
  if (ext.find("cl_khr_pci_bus_info") != std::string::npos) {
    struct {
      cl_uint domain, bus, device, function;
    } info{};
    constexpr cl_device_info kPciBusInfo = 0x410F;  // CL_DEVICE_PCI_BUS_INFO_KHR
    if (clGetDeviceInfo(d, kPciBusInfo, sizeof info, &info, nullptr) == CL_SUCCESS)
      return {info.domain, info.bus, info.device * 8 + info.function};
  }
  if (ext.find("cl_nv_device_attribute_query") != std::string::npos) {
    cl_uint bus = 0, slot = 0;
    constexpr cl_device_info kBusNv = 0x4008, kSlotNv = 0x4009;  // CL_DEVICE_PCI_{BUS,SLOT}_ID_NV
    if (clGetDeviceInfo(d, kBusNv, sizeof bus, &bus, nullptr) == CL_SUCCESS &&
        clGetDeviceInfo(d, kSlotNv, sizeof slot, &slot, nullptr) == CL_SUCCESS)
      return {0, bus, slot};
  }
  return {-1, -1, -1};
}

struct Candidate {
  FoundDevice found;
  int order_class = 0;  // 0 integrated, 1 discrete, 2 opencl-cpu
  std::tuple<int64_t, int64_t, int64_t> pci{-1, -1, -1};
  std::size_t enumeration_index = 0;
};

Candidate describe(cl_platform_id platform, cl_device_id d, bool cpu_type, std::size_t index) {
  Candidate c;
  c.found.platform = platform;
  c.found.device = d;
  c.enumeration_index = index;
  DeviceInfo& info = c.found.info;
  const std::string ext = cl::device_string(d, CL_DEVICE_EXTENSIONS);
  const bool unified = cl::device_value<cl_bool>(d, CL_DEVICE_HOST_UNIFIED_MEMORY) == CL_TRUE;
  info.full_name = cl::device_string(d, CL_DEVICE_NAME);
  info.type = cpu_type ? "opencl-cpu" : (unified ? "integrated" : "discrete");
  c.order_class = cpu_type ? 2 : (unified ? 0 : 1);
  c.pci = pci_location(d, ext);
  const std::string platform_name = cl::platform_string(platform, CL_PLATFORM_NAME);
  const std::string driver = cl::device_string(d, CL_DRIVER_VERSION);
  const std::string version = cl::device_string(d, CL_DEVICE_VERSION);
  info.driver = "OpenCL " + driver + " (" + platform_name + ")";
  info.memory_total_bytes =
      static_cast<int64_t>(cl::device_value<cl_ulong>(d, CL_DEVICE_GLOBAL_MEM_SIZE));
  // OpenCL has no portable free-memory query. A device sharing host memory is bounded by what
  // the host has available; a discrete one is assumed free (sinter does not share it).
  info.memory_available_bytes = info.memory_total_bytes;
  if (unified || cpu_type)
    info.memory_available_bytes = std::min(info.memory_total_bytes, host_memory().available_bytes);
  c.found.fp16 = ext.find("cl_khr_fp16") != std::string::npos;
  info.capabilities = {"FP32"};
  if (c.found.fp16) info.capabilities.push_back("FP16");
  info.caching_properties = {{"opencl_device", info.full_name},
                             {"opencl_driver", driver},
                             {"opencl_version", version},
                             {"kernels", kKernelSourceHash}};
  info.properties = {
      {"vendor", cl::device_string(d, CL_DEVICE_VENDOR)},
      {"platform", platform_name},
      {"compute_units", std::to_string(cl::device_value<cl_uint>(d, CL_DEVICE_MAX_COMPUTE_UNITS))},
      {"max_allocation_bytes",
       std::to_string(cl::device_value<cl_ulong>(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE))},
      {"opencl_version", version}};
  if (std::get<0>(c.pci) >= 0)
    info.properties["pci"] =
        std::to_string(std::get<1>(c.pci)) + ":" + std::to_string(std::get<2>(c.pci));
  return c;
}

}  // namespace

std::vector<FoundDevice> find_opencl_devices() {
  const char* env = std::getenv("SINTER_OPENCL_CPU");
  const bool include_cpu = env && std::string(env) == "1";
  cl_uint platform_count = 0;
  cl_int err = clGetPlatformIDs(0, nullptr, &platform_count);
  if (err != CL_SUCCESS || platform_count == 0) {
    log().debug("no GPU device: no OpenCL platform is installed ({})",
                err == CL_SUCCESS ? "0 platforms" : cl::error_name(err));
    return {};
  }
  std::vector<cl_platform_id> platforms(platform_count);
  clGetPlatformIDs(platform_count, platforms.data(), nullptr);
  std::vector<Candidate> candidates;
  for (cl_platform_id p : platforms) {
    cl_uint count = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &count) != CL_SUCCESS || count == 0)
      continue;
    std::vector<cl_device_id> ids(count);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, count, ids.data(), nullptr);
    for (cl_device_id d : ids) {
      const auto type = cl::device_value<cl_device_type>(d, CL_DEVICE_TYPE);
      const bool gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
      const bool cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
      if (!gpu && !(cpu && include_cpu)) {
        if (cpu)
          log().debug("OpenCL CPU device skipped (set SINTER_OPENCL_CPU=1 to use it as a GPU)");
        continue;
      }
      try {
        candidates.push_back(describe(p, d, !gpu, candidates.size()));
      } catch (const std::exception& e) {
        log().debug("OpenCL device skipped: {}", e.what());
      }
    }
  }
  // Integrated first, then discrete in PCI order, then OpenCL-on-CPU; ties keep driver order.
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) {
                     return std::tie(a.order_class, a.pci) < std::tie(b.order_class, b.pci);
                   });
  std::vector<FoundDevice> out;
  for (auto& c : candidates) {
    c.found.info.name = "GPU." + std::to_string(out.size());
    out.push_back(std::move(c.found));
  }
  if (out.empty()) log().debug("no GPU device: the OpenCL platforms have no usable GPU");
  return out;
}

}  // namespace sinter::gpu
