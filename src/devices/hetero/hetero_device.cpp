#include "devices/hetero/hetero_device.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "base/errors.hpp"
#include "base/logging.hpp"
#include "ir/partition.hpp"

namespace sinter::hetero {

namespace {

struct Part {
  ir::Subgraph subgraph;
  std::string device;
  std::unique_ptr<device::Executable> executable;
  std::vector<std::string> implementations;  // per node of the subgraph
  std::vector<std::string> release_after;    // boundary values no later part reads
};

class HeteroExecutable final : public device::Executable {
 public:
  HeteroExecutable(std::shared_ptr<const ir::Graph> graph, std::vector<Part> parts)
      : graph_(std::move(graph)), parts_(std::move(parts)) {
    std::set<std::string> keep;  // graph inputs and outputs stay
    for (const auto& p : graph_->inputs) keep.insert(p.name);
    for (const auto& p : graph_->outputs) keep.insert(p.name);
    std::unordered_map<std::string, std::size_t> last_reader;
    for (std::size_t i = 0; i < parts_.size(); ++i)
      for (const auto& in : parts_[i].subgraph.inputs) last_reader[in] = i;
    for (const auto& [name, i] : last_reader)
      if (!keep.count(name)) parts_[i].release_after.push_back(name);
  }

  std::string compile_notes() const override {
    std::string notes;
    for (const auto& p : parts_) {
      const std::string n = p.executable->compile_notes();
      if (!n.empty()) notes += (notes.empty() ? "" : "; ") + p.device + ": " + n;
    }
    return notes;
  }

  std::string precision() const override {
    std::set<std::string> all;
    for (const auto& p : parts_) all.insert(p.executable->precision());
    if (all.size() == 1) return *all.begin();
    std::string out;
    std::set<std::string> named;  // each device once
    for (const auto& p : parts_)
      if (named.insert(p.device).second)
        out += (out.empty() ? "" : ", ") + p.device + " " + p.executable->precision();
    return out;
  }

  int64_t packed_weight_bytes() const override {
    int64_t bytes = 0;
    for (const auto& p : parts_) bytes += p.executable->packed_weight_bytes();
    return bytes;
  }

  void release_working_memory() const override {
    for (const auto& p : parts_) p.executable->release_working_memory();
  }

  device::PlacementReport placement() const override {
    device::PlacementReport r;
    r.node_device.resize(graph_->nodes.size());
    r.node_implementation.resize(graph_->nodes.size());
    for (const auto& p : parts_) {
      r.subgraph_devices.push_back(p.device);
      for (std::size_t k = 0; k < p.subgraph.nodes.size(); ++k) {
        r.node_device[p.subgraph.nodes[k]] = p.device;
        r.node_implementation[p.subgraph.nodes[k]] = p.implementations[k];
      }
    }
    return r;
  }

  void run(std::map<std::string, Value>& values, device::RunProfile* profile) const override {
    std::unordered_map<std::string, const std::string*> made_on;  // boundary value -> device
    int64_t transferred = 0, peak = 0, working = 0;
    std::vector<std::string> devices;
    if (profile && profile->time_nodes) profile->node_ms.assign(graph_->nodes.size(), 0.0);
    for (const auto& part : parts_) {
      std::map<std::string, Value> io;
      for (const auto& in : part.subgraph.inputs) {
        auto it = values.find(in);
        if (it == values.end()) continue;  // an omitted optional input
        io[in] = it->second;
        auto from = made_on.find(in);
        if (from != made_on.end() && *from->second != part.device && it->second.is_tensor())
          transferred += static_cast<int64_t>(it->second.tensor().byte_size());
      }
      device::RunProfile sub;
      sub.time_nodes = profile && profile->time_nodes;
      part.executable->run(io, profile ? &sub : nullptr);
      for (const auto& out : part.subgraph.outputs) {
        auto it = io.find(out);
        SINTER_CHECK(it != io.end(), internal, "HETERO: {} did not produce '{}'", part.device, out);
        values[out] = std::move(it->second);
        made_on[out] = &part.device;
      }
      for (const auto& name : part.release_after) values.erase(name);
      if (std::find(devices.begin(), devices.end(), part.device) == devices.end())
        devices.push_back(part.device);
      if (profile) {
        for (std::size_t k = 0; k < sub.node_ms.size() && k < part.subgraph.nodes.size(); ++k)
          profile->node_ms[part.subgraph.nodes[k]] = sub.node_ms[k];
        peak = std::max(peak, sub.peak_activation_bytes);
        working = std::max(working, std::max(sub.working_bytes, sub.peak_activation_bytes));
      }
    }
    // Graph outputs that no node produces (a constant or an input passed through).
    for (const auto& o : graph_->outputs) {
      if (values.count(o.name)) continue;
      if (auto c = graph_->constants.find(o.name); c != graph_->constants.end())
        values[o.name] = c->second;
    }
    if (profile) {
      profile->peak_activation_bytes = peak;
      profile->working_bytes = working;
      profile->devices = std::move(devices);
      profile->transfer_bytes = transferred;
    }
  }

 private:
  std::shared_ptr<const ir::Graph> graph_;
  std::vector<Part> parts_;
};

class HeteroDevice final : public device::Device {
 public:
  HeteroDevice(std::vector<std::shared_ptr<const device::Device>> chain, HeteroOptions options)
      : chain_(std::move(chain)), options_(std::move(options)) {
    SINTER_CHECK(!chain_.empty(), invalid_argument, "HETERO needs at least one device");
    SINTER_CHECK(options_.policy == "first" || options_.policy == "memory", invalid_argument,
                 "hetero policy '{}' is not 'first' or 'memory'", options_.policy);
  }

  DeviceInfo info() const override {
    DeviceInfo info;
    info.name = "HETERO:";
    info.type = "hetero";
    int64_t host_total = 0, host_available = 0;  // devices in host memory share it
    for (std::size_t i = 0; i < chain_.size(); ++i) {
      const DeviceInfo d = chain_[i]->info();
      info.name += (i ? "," : "") + d.name;
      info.full_name += (i ? ", " : "") + d.name + " (" + d.full_name + ")";
      if (d.type == "discrete") {
        info.memory_total_bytes += d.memory_total_bytes;
        info.memory_available_bytes += d.memory_available_bytes;
      } else {
        host_total = std::max(host_total, d.memory_total_bytes);
        host_available = std::max(host_available, d.memory_available_bytes);
      }
      for (const auto& [k, v] : d.caching_properties) info.caching_properties[d.name + "." + k] = v;
    }
    info.memory_total_bytes += host_total;
    info.memory_available_bytes += host_available;
    info.full_name = "HETERO over " + info.full_name;
    info.caching_properties["hetero_policy"] = options_.policy;
    info.capabilities = {"FP32"};
    return info;
  }

  std::vector<device::NodeSupport> query(const ir::Graph& graph) const override {
    std::vector<device::NodeSupport> out(graph.nodes.size());
    std::vector<std::string> reasons(graph.nodes.size());
    for (const auto& d : chain_) {
      const auto support = d->query(graph);
      const std::string name = d->info().name;
      for (std::size_t n = 0; n < out.size() && n < support.size(); ++n) {
        if (out[n].supported) continue;
        if (support[n].supported) {
          out[n].supported = true;
          out[n].implementation = name + ": " + support[n].implementation;
        } else {
          reasons[n] += (reasons[n].empty() ? "" : "; ") + name + ": " + support[n].reason;
        }
      }
    }
    for (std::size_t n = 0; n < out.size(); ++n)
      if (!out[n].supported) out[n].reason = reasons[n];
    return out;
  }

  std::unique_ptr<device::Executable> compile(
      std::shared_ptr<const ir::Graph> graph,
      const device::CompileOptions& options) const override {
    std::vector<std::vector<bool>> supported;
    for (const auto& d : chain_) {
      std::vector<bool> row;
      for (const auto& s : d->query(*graph)) row.push_back(s.supported);
      row.resize(graph->nodes.size(), false);
      supported.push_back(std::move(row));
    }
    ir::PartitionOptions popts;
    if (options_.policy == "memory") {
      for (std::size_t d = 0; d + 1 < chain_.size(); ++d)
        popts.weight_budget.push_back(chain_[d]->info().memory_available_bytes);
    }
    const ir::ShapeInference shapes = ir::infer_shapes(*graph);
    // A part a device refuses once cut out (its query sees less of the model than before) is
    // split again without the nodes it refused; each round takes nodes off a device, so it ends.
    for (;;) {
      const ir::Partition partition = ir::partition_graph(*graph, supported, popts);
      std::vector<Part> parts;
      bool refused = false;
      for (std::size_t s = 0; s < partition.subgraphs.size() && !refused; ++s) {
        const ir::Subgraph& sub = partition.subgraphs[s];
        const auto& device = chain_[sub.device];
        auto piece = std::make_shared<const ir::Graph>(
            ir::extract_subgraph(*graph, sub, shapes, graph->name + "#" + std::to_string(s)));
        const auto support = device->query(*piece);
        for (std::size_t k = 0; k < sub.nodes.size() && k < support.size(); ++k) {
          if (!support[k].supported) {
            supported[sub.device][sub.nodes[k]] = false;
            refused = true;
          }
        }
        if (refused) break;
        Part part;
        part.subgraph = sub;
        part.device = device->info().name;
        for (const auto& ns : support) part.implementations.push_back(ns.implementation);
        part.executable = compile_part(*device, piece, options);
        parts.push_back(std::move(part));
      }
      if (refused) {
        log().debug("HETERO: a device refused nodes of its part once cut out; splitting again");
        continue;
      }
      return std::make_unique<HeteroExecutable>(std::move(graph), std::move(parts));
    }
  }

 private:
  // A device that accepted every node of its part but refuses the compile lacks the precision
  // asked for (the CPU at f16): its part runs at f32, and the report says so per device.
  static std::unique_ptr<device::Executable> compile_part(const device::Device& device,
                                                          std::shared_ptr<const ir::Graph> piece,
                                                          const device::CompileOptions& options) {
    if (options.precision == "f32") return device.compile(std::move(piece), options);
    try {
      return device.compile(piece, options);
    } catch (const Error& e) {
      if (e.category() != ErrorCategory::unsupported_op) throw;
      log().info("HETERO: {} runs its part at f32 ({})", device.info().name, e.what());
      device::CompileOptions f32 = options;
      f32.precision = "f32";
      return device.compile(std::move(piece), f32);
    }
  }

  std::vector<std::shared_ptr<const device::Device>> chain_;
  HeteroOptions options_;
};

}  // namespace

std::unique_ptr<device::Device> make_hetero_device(
    std::vector<std::shared_ptr<const device::Device>> chain, HeteroOptions options) {
  return std::make_unique<HeteroDevice>(std::move(chain), std::move(options));
}

}  // namespace sinter::hetero
