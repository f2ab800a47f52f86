#include "devices/cpu/cpu_device.hpp"

#include <omp.h>
#include <unistd.h>
#include <dnnl.hpp>

#include <fstream>

#include "base/errors.hpp"
#include "devices/cpu/graph_executor.hpp"
#include "devices/cpu/kernel_registry.hpp"

namespace sinter::cpu {

namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  return "unknown CPU";
}

std::string isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse4.1";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "generic";
  }
}

class CpuExecutable final : public device::Executable {
 public:
  explicit CpuExecutable(std::shared_ptr<const ir::Graph> graph) : graph_(std::move(graph)) {}

  void run(std::map<std::string, Value>& values) const override {
    Scope scope(*graph_, nullptr);
    for (const auto& in : graph_->inputs) {
      auto it = values.find(in.name);
      SINTER_CHECK(it != values.end(), invalid_argument, "input '{}' was not set", in.name);
      scope.set(in.name, it->second);
    }
    run_nodes(*graph_, scope);
    for (const auto& out : graph_->outputs) {
      const Value* v = scope.find(out.name);
      SINTER_CHECK(v, internal, "output '{}' was not produced", out.name);
      values[out.name] = *v;
    }
  }

 private:
  std::shared_ptr<const ir::Graph> graph_;
};

class CpuDevice final : public device::Device {
 public:
  DeviceInfo info() const override {
    DeviceInfo d;
    d.name = "CPU";
    d.full_name = cpu_model_name();
    d.type = "cpu";
    d.properties["isa"] = isa_name();
    d.properties["threads"] = std::to_string(omp_get_max_threads());
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    d.properties["memory_total_bytes"] = std::to_string(static_cast<int64_t>(pages) * page);
    const long avail = sysconf(_SC_AVPHYS_PAGES);
    d.properties["memory_available_bytes"] = std::to_string(static_cast<int64_t>(avail) * page);
    return d;
  }

  std::vector<device::NodeSupport> query(const ir::Graph& graph) const override {
    std::vector<device::NodeSupport> out;
    for (const auto& n : graph.nodes) {
      device::NodeSupport s;
      s.supported = KernelRegistry::instance().find(n.domain, n.op_type) != nullptr;
      if (!s.supported) s.reason = "no CPU kernel for " + n.op_type;
      out.push_back(s);
    }
    return out;
  }

  std::unique_ptr<device::Executable> compile(
      std::shared_ptr<const ir::Graph> graph) const override {
    check_kernels(*graph);
    return std::make_unique<CpuExecutable>(std::move(graph));
  }
};

}  // namespace

std::unique_ptr<device::Device> make_cpu_device() {
  return std::make_unique<CpuDevice>();
}

}  // namespace sinter::cpu
