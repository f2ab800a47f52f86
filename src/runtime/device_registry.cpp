#include "runtime/device_registry.hpp"

#include <algorithm>
#include <set>

#include "base/errors.hpp"
#include "base/logging.hpp"
#include "devices/cpu/cpu_device.hpp"
#include "devices/gpu/gpu_device.hpp"
#include "devices/hetero/hetero_device.hpp"

namespace sinter::runtime {

namespace {

// AUTO's preference: discrete GPU > integrated GPU > CPU; OpenCL-on-CPU devices only when named.
int auto_rank(const DeviceInfo& d) {
  if (d.type == "discrete") return 0;
  if (d.type == "integrated") return 1;
  if (d.type == "cpu") return 2;
  return 3;
}

// "LSTM, RNN": the op types of `graph` that `device` cannot run; "" when it runs them all.
std::string unsupported_ops(const device::Device& device, const ir::Graph& graph) {
  const auto support = device.query(graph);
  std::set<std::string> ops;
  for (std::size_t i = 0; i < support.size() && i < graph.nodes.size(); ++i)
    if (!support[i].supported) ops.insert(graph.nodes[i].op_type);
  std::string out;
  for (const auto& op : ops) out += (out.empty() ? "" : ", ") + op;
  return out;
}

}  // namespace

const DeviceRegistry& DeviceRegistry::instance() {
  static const DeviceRegistry registry;
  return registry;
}

DeviceRegistry::DeviceRegistry() : cpu_(cpu::make_cpu_device()) {
  devices_.push_back(cpu_);
}

const std::vector<std::shared_ptr<const device::Device>>& DeviceRegistry::devices() const {
  // GPUs (OpenCL), already numbered: integrated first, then discrete in PCI bus order.
  std::call_once(gpus_found_, [this] {
    for (auto& gpu : gpu::make_gpu_devices()) devices_.push_back(std::move(gpu));
  });
  return devices_;
}

std::vector<DeviceInfo> DeviceRegistry::infos() const {
  std::vector<DeviceInfo> out;
  for (const auto& d : devices()) out.push_back(d->info());
  return out;
}

std::shared_ptr<const device::Device> DeviceRegistry::find(const std::string& name) const {
  if (name == "CPU") return cpu_;  // always there; no need to look for GPUs
  for (const auto& d : devices()) {
    if (d->info().name == name) return d;
  }
  return nullptr;
}

std::string DeviceRegistry::describe_devices() const {
  std::string out;
  for (const auto& d : infos())
    out += fmt::format("\n  {:<7} {} ({})", d.name, d.full_name, d.type);
  return out;
}

Resolution DeviceRegistry::resolve(const DeviceRequest& request, const ir::Graph* graph,
                                   const ResolveOptions& options) const {
  auto require = [&](const std::string& name) {
    auto d = find(name);
    if (!d) {
      const bool same = request.text == name;  // show the canonical name only when it differs
      raise(ErrorCategory::device_not_found,
            "device '{}'{} is not on this machine; available devices:{}", request.text,
            same ? "" : " (" + name + ")", describe_devices());
    }
    return d;
  };
  Resolution r;
  switch (request.kind) {
    case DeviceRequest::Kind::single:
      r.device = require(request.devices.at(0));
      r.why = "requested";
      break;
    case DeviceRequest::Kind::hetero: {
      std::vector<std::shared_ptr<const device::Device>> chain;
      for (const auto& name : request.devices) chain.push_back(require(name));
      r.device = hetero::make_hetero_device(std::move(chain), {options.hetero_policy});
      r.why = "HETERO: each node on the first listed device that supports it" +
              std::string(options.hetero_policy == "memory"
                              ? ", devices filled in order as their memory allows"
                              : "");
      break;
    }
    case DeviceRequest::Kind::auto_select: {
      std::vector<std::shared_ptr<const device::Device>> candidates;
      if (!request.devices.empty()) {
        for (const auto& name : request.devices) {
          if (auto d = find(name)) {
            candidates.push_back(d);
          } else {
            log().warn("{}: {} is not on this machine; skipping it", request.canonical(), name);
          }
        }
      } else {
        for (const auto& d : devices()) {
          const DeviceInfo info = d->info();
          const bool excluded = std::find(request.excluded.begin(), request.excluded.end(),
                                          info.name) != request.excluded.end();
          if (!excluded && info.type != "opencl-cpu") candidates.push_back(d);
        }
      }
      if (candidates.empty()) {
        raise(ErrorCategory::device_not_found,
              "device '{}' leaves no candidate device; available devices:{}", request.text,
              describe_devices());
      }
      // A list given by the user is its order of preference; otherwise the best type wins.
      if (request.devices.empty()) {
        std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
          return auto_rank(a->info()) < auto_rank(b->info());
        });
      }
      // The best candidate that can run every node; the ones passed over are named.
      std::string skipped;
      for (const auto& d : candidates) {
        // The CPU computes in f32, and in bf16 where it has the instructions (capability BF16).
        const auto caps = d->info().capabilities;
        const bool cpu_bf16 = std::find(caps.begin(), caps.end(), "BF16") != caps.end();
        if (d->info().type == "cpu" && options.precision != "f32" &&
            !(options.precision == "bf16" && cpu_bf16)) {
          skipped += fmt::format("; {} skipped: no {} compute", d->info().name, options.precision);
          continue;
        }
        const std::string missing = graph ? unsupported_ops(*d, *graph) : "";
        if (missing.empty()) {
          r.device = d;
          break;
        }
        skipped += fmt::format("; {} skipped: no kernel for {}", d->info().name, missing);
      }
      if (!r.device) {
        raise(ErrorCategory::unsupported_op, "{}: no candidate device can run the model{}",
              request.canonical(), skipped);
      }
      r.why = fmt::format("AUTO chose it from {} candidate(s){}", candidates.size(), skipped);
      if (r.device != cpu_ && options.precision == "f32" &&
          std::find(candidates.begin(), candidates.end(), cpu_) != candidates.end())
        r.fallback = cpu_;
      break;
    }
  }
  r.info = r.device->info();
  return r;
}

}  // namespace sinter::runtime
