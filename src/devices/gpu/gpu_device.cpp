#include "devices/gpu/gpu_device.hpp"

#include <xxhash.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_set>

#include "base/errors.hpp"
#include "base/half.hpp"
#include "base/logging.hpp"
#include "devices/gpu/gpu_enumeration.hpp"
#include "devices/gpu/gpu_op.hpp"
#include "passes/quantize_weights.hpp"

namespace sinter::gpu {

namespace {

bool stored_type(ElementType t) {
  return kAnyStored.count(t) > 0;
}

// Per set of input shapes: every value's planned shape, and which nodes fold on the host.
struct Plan {
  ir::ShapeInference shapes;
  std::vector<bool> folded;
};

// A node folds when all its outputs are small values known from the shapes (Shape, Gather on a
// shape, Concat of dims, ...) or it is a Constant: nothing runs on the device for it.
bool foldable(const ir::Node& node, const ir::ShapeInference& shapes) {
  if (node.op_type == "Constant") return true;
  for (const auto& o : node.outputs) {
    if (o.empty()) continue;
    const ir::ValueInfo& v = shapes.values.at(o);
    if (!v.shape_known() || !(v.values || v.real_values)) return false;
  }
  return true;
}

// The host tensor of a folded value.
Tensor host_tensor(const ir::ValueInfo& v) {
  Tensor t(v.type, v.dims);
  const int64_t n = t.element_count();
  for (int64_t i = 0; i < n; ++i) {
    const double real = v.values ? double((*v.values)[i]) : (*v.real_values)[i];
    const int64_t whole = v.values ? (*v.values)[i] : static_cast<int64_t>(real);
    switch (v.type) {
      case ElementType::f32:
        t.data_as<float>()[i] = static_cast<float>(real);
        break;
      case ElementType::f16:
        t.data_as<f16>()[i] = f16(static_cast<float>(real));
        break;
      case ElementType::f64:
        t.data_as<double>()[i] = real;
        break;
      case ElementType::i64:
        t.data_as<int64_t>()[i] = whole;
        break;
      case ElementType::i32:
        t.data_as<int32_t>()[i] = static_cast<int32_t>(whole);
        break;
      case ElementType::boolean:
      case ElementType::u8:
        t.data_as<uint8_t>()[i] = static_cast<uint8_t>(whole);
        break;
      default:
        break;
    }
  }
  return t;
}

class GpuExecutable final : public device::Executable {
 public:
  GpuExecutable(std::shared_ptr<const ir::Graph> graph, std::shared_ptr<ClRuntime> cl,
                std::string label)
      : graph_(std::move(graph)), cl_(std::move(cl)), label_(std::move(label)) {
    for (const auto& [name, t] : graph_->constants)
      if (stored_type(t.element_type())) constants_[name] = upload_tensor(*cl_, t);
    // Weights stored as int8 codes (sinter convert --compress int8) are expanded once, on the
    // host, and uploaded as the device's floats: the nodes that would make them are skipped.
    for (const auto& node : graph_->nodes) {
      const bool weights = ir::dequantizes_constant_weights(*graph_, node);
      dequantized_.push_back(weights);
      if (!weights) continue;
      const Tensor expanded = passes::dequantized_constant(*graph_, node);
      constants_[node.outputs[0]] = upload_tensor(*cl_, expanded);
      // The device holds the floats, the model only the codes.
      expanded_bytes_ += static_cast<int64_t>(constants_[node.outputs[0]].bytes()) -
                         static_cast<int64_t>(graph_->constants.at(node.inputs[0]).byte_size());
    }
    cl_->finish();
  }

  std::string compile_notes() const override { return notes_; }
  int64_t packed_weight_bytes() const override { return expanded_bytes_; }
  std::string precision() const override {
    return cl_->float_storage() == ElementType::f16 ? "f16 (f16 storage, f32 arithmetic)" : "f32";
  }
  void set_compile_notes(std::string notes) { notes_ = std::move(notes); }

  void run(std::map<std::string, Value>& values, device::RunProfile* profile) const override {
    std::lock_guard<std::mutex> lock(cl_->run_mutex());  // kernels' arguments are shared state
    try {
      run_locked(values, profile);
    } catch (...) {
      // Work queued before the failure must finish before the error leaves: a process that exits
      // with kernels still in flight (or being compiled by the driver) can crash in the driver.
      try {
        cl_->finish();
      } catch (...) {
      }
      throw;
    }
  }

 private:
  void run_locked(std::map<std::string, Value>& values, device::RunProfile* profile) const {
    std::map<std::string, const Tensor*> input_tensors;
    for (const auto& p : graph_->inputs) {
      auto it = values.find(p.name);
      if (it != values.end() && it->second.is_tensor())
        input_tensors[p.name] = &it->second.tensor();
    }
    const Plan& plan = plan_for(input_tensors);
    std::unordered_map<std::string, GTensor> live;
    for (const auto& p : graph_->inputs) {
      auto it = values.find(p.name);
      if (it == values.end() || !it->second.is_tensor()) continue;
      const Tensor& t = it->second.tensor();
      SINTER_CHECK(stored_type(t.element_type()), unsupported_op,
                   "{}: input '{}' is {}, which the GPU device does not handle", label_, p.name,
                   to_string(t.element_type()));
      live[p.name] = upload_tensor(*cl_, t);
    }
    const auto dying = ir::values_dying_after(*graph_);
    const bool time_nodes = profile && profile->time_nodes;
    if (profile) profile->node_ms.assign(time_nodes ? graph_->nodes.size() : 0, 0.0);
    ir::LiveBytes live_bytes;
    for (std::size_t i = 0; i < graph_->nodes.size(); ++i) {
      const ir::Node& node = graph_->nodes[i];
      if (dequantized_[i]) continue;  // a constant since compiling
      const auto start = std::chrono::steady_clock::now();
      std::vector<GTensor> outputs = plan.folded[i] ? fold(node, plan) : execute(node, plan, live);
      if (time_nodes) {
        cl_->finish();
        profile->node_ms[i] =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
      }
      for (std::size_t k = 0; k < node.outputs.size(); ++k) {
        if (node.outputs[k].empty()) continue;
        live_bytes.add(node.outputs[k], static_cast<int64_t>(outputs[k].bytes()));
        live[node.outputs[k]] = std::move(outputs[k]);
      }
      for (const auto& r : dying[i]) {
        live.erase(r);
        live_bytes.release(r);
      }
    }
    for (const auto& o : graph_->outputs) {
      const GTensor* g = find(o.name, live);
      SINTER_CHECK(g, internal, "{}: graph output '{}' was not produced", label_, o.name);
      auto planned = plan.shapes.values.find(o.name);
      const ElementType type =
          planned != plan.shapes.values.end() && planned->second.type != ElementType::undefined
              ? planned->second.type
              : g->type;
      values[o.name] = download_tensor(*cl_, *g, type);
    }
    if (profile) profile->peak_activation_bytes = live_bytes.peak();
  }

  const GTensor* find(const std::string& name,
                      const std::unordered_map<std::string, GTensor>& live) const {
    if (auto it = live.find(name); it != live.end()) return &it->second;
    if (auto it = constants_.find(name); it != constants_.end()) return &it->second;
    return nullptr;
  }

  // Plans depend on the input shapes and on the contents of small inputs (a Reshape's target
  // shape fed as an input), so both make up the key.
  const Plan& plan_for(const std::map<std::string, const Tensor*>& inputs) const {
    std::string key;
    for (const auto& [name, t] : inputs) {
      key += name + "=" + to_string(t->shape()) + ";";
      if (t->element_count() <= 64 && t->element_type() != ElementType::string)
        key.append(static_cast<const char*>(t->data()), t->byte_size());
    }
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
    Plan plan;
    plan.shapes = ir::infer_shapes(*graph_, inputs);
    for (std::size_t i = 0; i < graph_->nodes.size(); ++i) {
      const ir::Node& node = graph_->nodes[i];
      plan.folded.push_back(!dequantized_[i] && foldable(node, plan.shapes));
      if (plan.folded.back() || dequantized_[i]) continue;
      for (const auto& o : node.outputs) {
        if (o.empty()) continue;
        const ir::ValueInfo& v = plan.shapes.values.at(o);
        if (!v.shape_known()) {
          raise(ErrorCategory::unsupported_op,
                "{}: the shape of '{}' ({}) is not known before running it (it depends on data "
                "or on an op without a shape rule); the GPU device needs every shape planned. "
                "Run it with HETERO:{},CPU",
                label_, o, node.label(), label_);
        }
      }
    }
    return plans_.emplace(key, std::move(plan)).first->second;
  }

  std::vector<GTensor> fold(const ir::Node& node, const Plan& plan) const {
    std::vector<GTensor> out(node.outputs.size());
    for (std::size_t k = 0; k < node.outputs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      Tensor host;
      if (node.op_type == "Constant" && node.find("value") && !node.find("value")->t.empty())
        host = node.find("value")->t;
      else
        host = host_tensor(plan.shapes.values.at(node.outputs[k]));
      if (stored_type(host.element_type()))
        out[k] = upload_tensor(*cl_, host);
      else
        out[k] = GTensor{host.element_type(), host.shape(), nullptr};
    }
    return out;
  }

  std::vector<GTensor> execute(const ir::Node& node, const Plan& plan,
                               const std::unordered_map<std::string, GTensor>& live) const {
    const auto& ops = gpu_ops();
    auto op = ops.find(node.op_type);
    SINTER_CHECK(op != ops.end() && node.domain.empty(), unsupported_op,
                 "{}: no OpenCL kernel for {}", label_, node.label());
    std::vector<const GTensor*> inputs;
    for (const auto& name : node.inputs) {
      const GTensor* g = name.empty() ? nullptr : find(name, live);
      SINTER_CHECK(name.empty() || (g && g->buf), unsupported_op,
                   "{}: {} reads '{}', which is not in device memory", label_, node.label(), name);
      inputs.push_back(g);
    }
    GpuOpContext ctx(*cl_, node, graph_->opset(node.domain), std::move(inputs), plan.shapes);
    try {
      op->second.run(ctx);
    } catch (const Error& e) {
      // Helpers below the op (strides, allocation) do not know the node: name it here.
      const std::string what = e.what();
      if (what.rfind("node '", 0) == 0) throw;
      throw Error(e.category(), node.label() + " on " + label_ + ": " + what);
    }
    return std::move(ctx.outputs);
  }

  std::shared_ptr<const ir::Graph> graph_;
  std::shared_ptr<ClRuntime> cl_;
  std::string label_;
  std::map<std::string, GTensor> constants_;
  std::vector<bool> dequantized_;  // per node: weights DequantizeLinear made at compile time
  int64_t expanded_bytes_ = 0;     // what those take on the device beyond their codes
  std::string notes_;
  mutable std::map<std::string, Plan> plans_;
};

// SINTER_GPU_DISABLE_OPS=OpA,OpB: ops the device reports as unsupported, so that HETERO's split
// can be tried on any model.
std::set<std::string> disabled_ops() {
  std::set<std::string> out;
  const char* env = std::getenv("SINTER_GPU_DISABLE_OPS");
  std::string item;
  for (const char* p = env ? env : "";; ++p) {
    if (*p == ',' || *p == '\0') {
      if (!item.empty()) out.insert(item);
      item.clear();
      if (*p == '\0') break;
    } else if (*p != ' ') {
      item += *p;
    }
  }
  return out;
}

// Why the planned element types keep a node off the device, or "".
std::string type_problem(const ir::Node& node, const GpuOp& op, const ir::ShapeInference& shapes) {
  auto type_of = [&](const std::string& name) {
    auto it = shapes.values.find(name);
    return it == shapes.values.end() ? ElementType::undefined : it->second.type;
  };
  for (std::size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i].empty()) continue;
    const ElementType t = type_of(node.inputs[i]);
    if (i == 0 && !op.input_types.empty() && !op.input_types.count(t))
      return fmt::format("no OpenCL kernel for {} on {}", node.op_type,
                         t == ElementType::undefined ? "non-tensor values" : to_string(t));
    if (!op.input_types.empty() && !stored_type(t))
      return fmt::format("input '{}' is {}", node.inputs[i],
                         t == ElementType::undefined ? "not a tensor of known type" : to_string(t));
  }
  for (const auto& o : node.outputs) {
    if (o.empty()) continue;
    const ElementType t = type_of(o);
    if (!stored_type(t))
      return fmt::format("output '{}' would be {}", o,
                         t == ElementType::undefined ? "of unknown type" : to_string(t));
  }
  return "";
}

class GpuDevice final : public device::Device {
 public:
  explicit GpuDevice(FoundDevice found)
      : found_(std::move(found)),
        cl_(std::make_shared<ClRuntime>(found_.platform, found_.device, found_.info.name)) {}

  DeviceInfo info() const override { return found_.info; }

  std::vector<device::NodeSupport> query(const ir::Graph& graph) const override {
    const ir::ShapeInference shapes = ir::infer_shapes(graph);
    std::vector<device::NodeSupport> out;
    const auto& ops = gpu_ops();
    const std::set<std::string> disabled = disabled_ops();
    for (const auto& node : graph.nodes) {
      device::NodeSupport s;
      auto op = ops.find(node.op_type);
      if (ir::dequantizes_constant_weights(graph, node) && !disabled.count(node.op_type)) {
        s.supported = true;
        s.implementation = "int8 weights expanded once on the host, uploaded as floats";
        out.push_back(std::move(s));
        continue;
      }
      if (disabled.count(node.op_type)) {
        s.reason = node.op_type + " disabled by SINTER_GPU_DISABLE_OPS";
      } else if (!node.domain.empty() || op == ops.end()) {
        s.reason = "no OpenCL kernel for " + node.op_type;
      } else {
        s.reason = type_problem(node, op->second, shapes);
        if (s.reason.empty() && op->second.check) s.reason = op->second.check(node, shapes);
      }
      s.supported = s.reason.empty();
      if (s.supported)
        s.implementation =
            op->second.describe ? op->second.describe(node, shapes) : op->second.implementation;
      out.push_back(std::move(s));
    }
    return out;
  }

  std::unique_ptr<device::Executable> compile(
      std::shared_ptr<const ir::Graph> graph,
      const device::CompileOptions& options) const override {
    const auto support = query(*graph);
    std::map<std::string, std::pair<int, std::string>> missing;  // op -> (nodes, reason)
    for (std::size_t i = 0; i < support.size(); ++i) {
      if (support[i].supported) continue;
      auto& m = missing[graph->nodes[i].op_type];
      ++m.first;
      m.second = support[i].reason;
    }
    if (!missing.empty()) {
      std::string list;
      for (const auto& [op, m] : missing)
        list += fmt::format("{}{} ({} node{}: {})", list.empty() ? "" : ", ", op, m.first,
                            m.first == 1 ? "" : "s", m.second);
      raise(ErrorCategory::unsupported_op,
            "{} ({}) cannot run every node of this model: {}. Run it with HETERO:{},CPU to place "
            "those nodes on the CPU",
            found_.info.name, found_.info.full_name, list, found_.info.name);
    }
    const std::shared_ptr<ClRuntime> cl = runtime_for(options.precision);
    std::string key;
    for (const auto& [k, v] : found_.info.caching_properties) key += k + "=" + v + ";";
    key += std::string("float_storage=") + to_string(cl->float_storage());
    const std::string notes = cl->ensure_program(
        options.cache_dir, fmt::format("{:016x}", XXH3_64bits(key.data(), key.size())));
    auto exe = std::make_unique<GpuExecutable>(std::move(graph), cl, found_.info.name);
    exe->set_compile_notes(notes);
    return exe;
  }

 private:
  // f32: the device's runtime; f16: a second one (own context, program and buffer pool) whose
  // kernels keep float tensors as half. Storage through vload_half / vstore_half is core OpenCL,
  // so every device can do it, with or without cl_khr_fp16.
  std::shared_ptr<ClRuntime> runtime_for(const std::string& precision) const {
    if (precision == "f32") return cl_;
    SINTER_CHECK(precision == "f16", unsupported_op,
                 "{} ({}) has no precision '{}': the GPU device runs f32 or f16", found_.info.name,
                 found_.info.full_name, precision);
    std::lock_guard<std::mutex> lock(f16_mutex_);
    if (!cl_f16_)
      cl_f16_ = std::make_shared<ClRuntime>(found_.platform, found_.device, found_.info.name,
                                            ElementType::f16);
    return cl_f16_;
  }

  FoundDevice found_;
  std::shared_ptr<ClRuntime> cl_;
  mutable std::mutex f16_mutex_;
  mutable std::shared_ptr<ClRuntime> cl_f16_;
};

}  // namespace

std::vector<std::unique_ptr<device::Device>> make_gpu_devices() {
  std::vector<std::unique_ptr<device::Device>> out;
  for (auto& found : find_opencl_devices()) {
    try {
      out.push_back(std::make_unique<GpuDevice>(std::move(found)));
    } catch (const std::exception& e) {
      log().warn("OpenCL device skipped: {}", e.what());
    }
  }
  return out;
}

}  // namespace sinter::gpu
