// Core, Model, CompiledModel and InferRequest: the public API over the IR and the devices.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "base/errors.hpp"
#include "base/file_io.hpp"
#include "base/logging.hpp"
#include "base/mapped_file.hpp"
#include "base/npy.hpp"
#include "devices/auto/auto_device.hpp"
#include "frontend/onnx/onnx_import.hpp"
#include "ir/flop_estimate.hpp"
#include "ir/shape_inference.hpp"
#include "ir/sinter_format.hpp"
#include "passes/quantize_weights.hpp"
#include "runtime/device_registry.hpp"
#include "runtime/impl.hpp"
#include "runtime/memory_preflight.hpp"
#include "runtime/model_cache.hpp"

namespace sinter {

namespace {

// By content: the first bytes of a .sinter file are its magic.
bool is_sinter_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == sizeof magic && ir::looks_like_sinter(magic, sizeof magic);
}

std::string dims_to_string(const PortInfo& port) {
  if (!port.has_shape) return "[...]";
  std::string s = "[";
  for (std::size_t i = 0; i < port.shape.size(); ++i) {
    if (i) s += ",";
    const auto& d = port.shape[i];
    s += d.is_static() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol);
  }
  return s + "]";
}

// Checks a value against the declared input: kind, element type, rank and static dims.
void check_input(const PortInfo& port, const Value& value) {
  const bool optional = port.kind == PortInfo::Kind::optional_tensor ||
                        port.kind == PortInfo::Kind::optional_sequence;
  if (value.is_none()) {
    SINTER_CHECK(optional, invalid_argument, "input '{}' expects a {}, got an empty optional",
                 port.name, to_string(port));
    return;
  }
  if (value.is_sequence()) {
    SINTER_CHECK(
        port.kind == PortInfo::Kind::sequence || port.kind == PortInfo::Kind::optional_sequence ||
            port.kind == PortInfo::Kind::unknown,
        invalid_argument, "input '{}' expects {}, got a sequence", port.name, to_string(port));
    return;
  }
  SINTER_CHECK(port.kind == PortInfo::Kind::tensor ||
                   port.kind == PortInfo::Kind::optional_tensor ||
                   port.kind == PortInfo::Kind::unknown,
               invalid_argument, "input '{}' expects {}, got a tensor", port.name, to_string(port));
  const Tensor& t = value.tensor();
  SINTER_CHECK(port.element_type == ElementType::undefined || port.element_type == t.element_type(),
               invalid_argument, "input '{}' expects element type {}, got {}", port.name,
               to_string(port.element_type), to_string(t.element_type()));
  if (!port.has_shape) return;
  bool ok = port.shape.size() == t.shape().size();
  for (std::size_t i = 0; ok && i < port.shape.size(); ++i) {
    if (port.shape[i].is_static() && port.shape[i].value != t.shape()[i]) ok = false;
  }
  SINTER_CHECK(ok, invalid_argument, "input '{}' expects shape {}, got {}", port.name,
               dims_to_string(port), to_string(t.shape()));
}

}  // namespace

std::string to_string(const PortInfo& port) {
  switch (port.kind) {
    case PortInfo::Kind::sequence:
      return fmt::format("sequence<{}>", to_string(port.element_type));
    case PortInfo::Kind::optional_sequence:
      return fmt::format("optional<sequence<{}>>", to_string(port.element_type));
    case PortInfo::Kind::optional_tensor:
      return fmt::format("optional<{}{}>", to_string(port.element_type), dims_to_string(port));
    case PortInfo::Kind::unknown:
      return "unknown";
    case PortInfo::Kind::tensor:
      break;
  }
  return std::string(to_string(port.element_type)) + dims_to_string(port);
}

// ---- Model

const std::vector<PortInfo>& Model::inputs() const {
  return impl_->graph->inputs;
}
const std::vector<PortInfo>& Model::outputs() const {
  return impl_->graph->outputs;
}
int64_t Model::opset() const {
  return impl_->graph->opset("");
}
const std::string& Model::source() const {
  return impl_->source;
}
std::map<std::string, int64_t> Model::op_histogram() const {
  std::map<std::string, int64_t> h;
  ir::count_ops(*impl_->graph, h);
  return h;
}
int64_t Model::node_count() const {
  int64_t n = 0;
  for (const auto& [_, c] : op_histogram()) n += c;
  return n;
}

int64_t Model::weight_bytes() const {
  int64_t bytes = 0;
  for (const auto& [_, t] : impl_->graph->constants) bytes += static_cast<int64_t>(t.byte_size());
  return bytes;
}

MemoryEstimate Model::memory_estimate(const std::map<std::string, Shape>& input_shapes) const {
  return runtime::plan_memory(*impl_->graph, weight_bytes(),
                              runtime::effective_input_shapes(*impl_->graph, input_shapes));
}

int64_t Model::flops(const std::map<std::string, Shape>& input_shapes) const {
  const auto shapes = runtime::effective_input_shapes(*impl_->graph, input_shapes);
  return ir::estimate_flops(*impl_->graph, ir::infer_shapes(*impl_->graph, shapes)).flops;
}

const std::string& Model::format() const {
  return impl_->format;
}
bool Model::read_from_cache() const {
  return impl_->read_from_cache;
}

ConvertReport Model::save(const std::string& path, const ConvertOptions& options) const {
  ir::SinterWriteOptions w;
  w.compress_f16 = options.compress_f16;
  w.producer = std::string("sinter ") + SINTER_VERSION_STRING;
  w.source = impl_->source;
  // The copy shares the weights; only the compressed ones are new.
  std::shared_ptr<const ir::Graph> graph = impl_->graph;
  int quantized = 0;
  if (options.compress_int8) {
    auto copy = std::make_shared<ir::Graph>(*impl_->graph);
    quantized = passes::quantize_weights_int8(*copy);
    graph = copy;
  }
  const ir::SinterWriteStats stats = ir::write_sinter_file(*graph, path, w);
  ConvertReport r;
  r.tensors = stats.tensors;
  r.compressed_tensors = stats.compressed_tensors + quantized;
  r.file_bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  return r;
}

// ---- Core

namespace {

std::shared_ptr<runtime::ModelCache> open_cache(const Config& config) {
  if (!config.cache_enabled()) return nullptr;
  try {
    return std::make_shared<runtime::ModelCache>(config.get("cache_dir"),
                                                 config.cache_size_bytes());
  } catch (const Error& e) {
    log().warn("model cache disabled: {}", e.what());
    return nullptr;
  }
}

}  // namespace

Core::Core() : config_(std::make_shared<Config>(Config::from_environment())) {
  cache_ = open_cache(*config_);
}

Core::Core(const Config& config) : config_(std::make_shared<Config>(config)) {
  set_log_level(config.get("log_level"));
  cache_ = open_cache(*config_);
}

// A model converted on first use is stored in the model cache at once and used from the entry's
// mapping: the parsed tensors are freed before anything compiles, so the first start holds the
// weights once, as every later start does, instead of the parsed copy plus the kernels' packed
// copies (SD 1.5's UNet: 7.0 GiB peak on its first inference instead of 3.8). Should storing fail
// (disk full), the parsed graph is used and the cache warning says why.
void Core::map_through_cache(detail::ModelImpl& impl) const {
  try {
    cache_->store_model(impl.cache_key, *impl.graph, impl.source, impl.dir, impl.external_files);
  } catch (const std::exception& e) {
    log().warn("model cache: could not store '{}' in {}: {}", impl.source, cache_->dir(), e.what());
    return;
  }
  if (auto mapped = cache_->load_model(impl.cache_key, impl.dir)) {
    impl.graph = std::move(mapped);
    impl.stored_in_cache = true;
    // The parsed tensors are free now but stay in the heap, counted in the process's RSS and in
    // every memory plan it makes (SD 1.5's first txt2img held 1.2 GiB of them): give them back.
    malloc_trim(0);
  }
}

Model Core::read_model(const std::string& path) const {
  SINTER_CHECK(!std::filesystem::is_directory(path), io_error, "'{}' is a directory, not a model",
               path);
  auto impl = std::make_shared<detail::ModelImpl>();
  impl->source = path;
  if (is_sinter_file(path)) {
    impl->graph = ir::read_sinter_file(path);
    impl->format = "sinter";
    if (cache_) {
      const auto file = MappedFile::open(path);
      impl->cache_key = runtime::ModelCache::model_key(std::string_view(
          file->data(), std::min<std::size_t>(file->size(), ir::kSinterPrefixBytes)));
      impl->converted_file = true;
    }
  } else {
    // Mapped, not read: hashing for the cache key and parsing then touch the page cache only.
    const auto file = MappedFile::open(path);
    const std::string_view bytes(file->data(), file->size());
    const std::string dir = std::filesystem::path(path).parent_path().string();
    impl->dir = dir;
    if (cache_) {
      impl->cache_key = runtime::ModelCache::model_key(bytes);
      if (auto cached = cache_->load_model(impl->cache_key, dir)) {
        impl->graph = cached;
        impl->read_from_cache = true;
        log().info("read '{}' from the model cache ({})", path, impl->cache_key);
      }
    }
    if (!impl->graph) {
      // Parsing holds the protobuf and the tensors made from it: about twice the file.
      const auto cpu = runtime::DeviceRegistry::instance().find("CPU");
      runtime::preflight(2 * static_cast<int64_t>(bytes.size()),
                         fmt::format("protobuf and tensors of a {:.1f} MiB file",
                                     double(bytes.size()) / 1048576.0),
                         runtime::budget_for(cpu->info(), *config_), "reading '" + path + "'");
      impl->graph = std::make_shared<ir::Graph>(
          onnx_frontend::import_model(bytes, dir, path, &impl->external_files));
      if (cache_) map_through_cache(*impl);
    }
  }
  Model m;
  m.impl_ = impl;
  return m;
}

Model Core::read_model_from_memory(const void* data, std::size_t size,
                                   const std::string& base_dir) const {
  auto impl = std::make_shared<detail::ModelImpl>();
  impl->graph = std::make_shared<ir::Graph>(onnx_frontend::import_model(
      std::string(static_cast<const char*>(data), size), base_dir, "<memory>"));
  impl->source = "<memory>";
  Model m;
  m.impl_ = impl;
  return m;
}

namespace {

// Where each node runs: from a virtual device's own report, else all on `device`.
void record_placement(detail::CompiledModelImpl& impl, const std::string& device) {
  const device::PlacementReport report = impl.executable->placement();
  const bool virtual_split = !report.node_device.empty();
  std::vector<device::NodeSupport> support;
  if (!virtual_split) support = impl.device->query(*impl.graph);
  for (std::size_t i = 0; i < impl.graph->nodes.size(); ++i) {
    const ir::Node& n = impl.graph->nodes[i];
    if (virtual_split)
      impl.placement.push_back(
          {n.name, n.op_type, report.node_device.at(i), report.node_implementation.at(i)});
    else
      impl.placement.push_back(
          {n.name, n.op_type, device, i < support.size() ? support[i].implementation : ""});
  }
  impl.subgraph_devices =
      virtual_split ? report.subgraph_devices : std::vector<std::string>{device};
  for (const auto& d : impl.subgraph_devices)
    if (std::find(impl.execution_devices.begin(), impl.execution_devices.end(), d) ==
        impl.execution_devices.end())
      impl.execution_devices.push_back(d);
}

// What the settings ask of a device's compile for these input shapes (the caller adds the
// cache folders where it compiles).
device::CompileOptions compile_options_for(const Config& config,
                                           const std::map<std::string, Shape>& shapes) {
  device::CompileOptions options;
  options.threads = config.threads();
  options.precision = config.get("precision");
  options.weights = config.get("weights");
  options.input_shapes = shapes;
  return options;
}

// The peak of intermediate values an earlier run of this compile measured replaces the plan.
void use_measured(MemoryEstimate& m, int64_t measured_bytes) {
  m.activation_bytes = measured_bytes;
  m.activation_source = "measured";
  m.unsized_values = 0;
}

// Intermediate values as `device` plans them where it plans them itself (its rewrites change
// which values exist: the CPU's fused attention makes no score matrix), instead of the graph's
// own plan; cheap next to the compile, and only asked when no earlier run measured them.
void plan_on_device(MemoryEstimate& m, const device::Device& device, const ir::Graph& graph,
                    const Config& config, const std::map<std::string, Shape>& shapes) {
  const int64_t planned =
      device.planned_activation_bytes(graph, compile_options_for(config, shapes));
  if (planned < 0) return;
  m.activation_bytes = planned;
  m.unsized_values = 0;
  m.first_unsized.clear();
}

}  // namespace

std::map<std::string, std::string> Core::compile_options() const {
  // hetero_policy is in the HETERO device's caching properties.
  return {{"precision", config_->get("precision")}, {"weights", config_->get("weights")}};
}

// Looks the compile up in the model cache: fills `compiled`'s cache fields and returns "hit",
// "miss" or "off" for the log line.
std::string Core::cache_lookup(const detail::ModelImpl& model, const DeviceInfo& device,
                               const std::map<std::string, Shape>& shapes,
                               detail::CompiledModelImpl& compiled) const {
  if (!cache_ || model.cache_key.empty()) return "off";
  compiled.cache = cache_;
  compiled.entry_shapes = shapes;
  compiled.entry_key =
      runtime::ModelCache::compiled_key(model.cache_key, device, compile_options(), shapes);
  if ((model.read_from_cache || model.converted_file) &&
      cache_->has_compiled(compiled.entry_key, model.cache_key)) {
    compiled.loaded_from_cache = true;
    compiled.measured_activation_bytes =
        cache_->recorded_bytes(compiled.entry_key, runtime::ModelCache::kActivationBytes);
    return "hit";
  }
  return "miss";
}

namespace {

// Records a compile that missed. Cache trouble never fails a compile: it is a warning.
void store_compile(runtime::ModelCache& cache, const detail::ModelImpl& model,
                   const DeviceInfo& device, const std::string& entry_key,
                   const std::map<std::string, Shape>& shapes,
                   const std::map<std::string, std::string>& options) {
  try {
    if (!model.read_from_cache && !model.stored_in_cache && !model.converted_file) {
      cache.store_model(model.cache_key, *model.graph, model.source, model.dir,
                        model.external_files);
    }
    cache.store_compiled(entry_key, model.cache_key, model.source, device, options, shapes);
    if (cache.total_bytes() > cache.max_bytes()) cache.prune(cache.max_bytes());
  } catch (const std::exception& e) {
    log().warn("model cache: could not store '{}' in {}: {}", model.source, cache.dir(), e.what());
  }
}

// What the device's packed weight copies add, in the compile's cache entry (written once, again
// only if it changed), so that Core::memory_estimate counts them before the next compile: a
// pipeline plans all its stages before compiling any.
void record_packed_weight_bytes(const detail::CompiledModelImpl& compiled) {
  const int64_t bytes = compiled.memory.packed_weight_bytes;
  try {
    if (compiled.cache->recorded_bytes(compiled.entry_key,
                                       runtime::ModelCache::kPackedWeightBytes) != bytes)
      compiled.cache->record_bytes(compiled.entry_key, runtime::ModelCache::kPackedWeightBytes,
                                   bytes);
  } catch (const std::exception& e) {
    log().warn("model cache: could not record the packed weights' size: {}", e.what());
  }
}

}  // namespace

void Core::cache_store(const detail::ModelImpl& model, const DeviceInfo& device,
                       const detail::CompiledModelImpl& compiled) const {
  store_compile(*cache_, model, device, compiled.entry_key, compiled.entry_shapes,
                compile_options());
}

CompiledModel Core::compile_model(const Model& model) const {
  return compile_model(model, std::map<std::string, Shape>{});
}

CompiledModel Core::compile_model(const Model& model,
                                  const std::map<std::string, Shape>& input_shapes) const {
  const Setting& s = config_->setting("device");
  return compile_on(model, s.value, s.source, input_shapes);
}

CompiledModel Core::compile_model(const Model& model, const std::string& device,
                                  const std::map<std::string, Shape>& input_shapes) const {
  return compile_on(model, device, "compile_model argument", input_shapes);
}

CompiledModel Core::compile_on(const Model& model, const std::string& device,
                               const std::string& source,
                               const std::map<std::string, Shape>& input_shapes) const {
  SINTER_CHECK(model.impl_, invalid_argument, "compile_model: the model is empty");
  const auto start = std::chrono::steady_clock::now();
  const runtime::DeviceRequest request = runtime::parse_device_name(device);
  const runtime::Resolution resolved = runtime::DeviceRegistry::instance().resolve(
      request, model.impl_->graph.get(),
      {config_->get("hetero_policy"), config_->get("precision")});
  auto impl = std::make_shared<detail::CompiledModelImpl>();
  const auto shapes = runtime::effective_input_shapes(*model.impl_->graph, input_shapes);
  const std::string cache_state = cache_lookup(*model.impl_, resolved.info, shapes, *impl);
  // Planned from static shapes; a cached compile that ran before knows its measured peak.
  impl->memory = runtime::plan_memory(*model.impl_->graph, model.weight_bytes(), shapes);
  if (impl->measured_activation_bytes >= 0) {
    use_measured(impl->memory, impl->measured_activation_bytes);
  } else {
    plan_on_device(impl->memory, *resolved.device, *model.impl_->graph, *config_, shapes);
  }
  runtime::preflight(impl->memory.total_bytes(), impl->memory.describe(),
                     runtime::budget_for(resolved.info, *config_),
                     "'" + model.source() + "' on " + resolved.info.name);
  impl->graph = model.impl_->graph;
  impl->device = resolved.device;
  // AUTO with the CPU behind the chosen device: a CPU phase while it compiles (nothing cached
  // for it yet), and a CPU re-run of inferences that fail on it.
  bool background_compile = false;
  if (resolved.fallback) {
    autoselect::AutoOptions a;
    a.runtime_fallback = config_->get("runtime_fallback") == "on";
    a.startup_fallback = background_compile = cache_state != "hit";
    // The entry is written when the background compile ends; a CPU-phase peak would not be its.
    if (background_compile) impl->activation_recorded = true;
    if (cache_state == "miss") {
      a.on_ready = [cache = cache_, model_impl = model.impl_, info = resolved.info,
                    key = impl->entry_key, entry_shapes = impl->entry_shapes,
                    options = compile_options()] {
        store_compile(*cache, *model_impl, info, key, entry_shapes, options);
      };
    }
    impl->device = autoselect::make_auto_device(resolved.device, resolved.fallback, std::move(a));
  }
  device::CompileOptions options = compile_options_for(*config_, shapes);
  if (cache_) options.cache_dir = cache_->dir() + "/devices";
  if (cache_ && !model.impl_->cache_key.empty())
    options.weights_cache_dir = cache_->packed_dir(model.impl_->cache_key);
  impl->executable = impl->device->compile(impl->graph, options);
  impl->precision = impl->executable->precision();
  // The weight copies the kernels will make (on the first inference) are known now: checked
  // before anything runs, so a model that only fits without them is refused before they exist.
  impl->memory.packed_weight_bytes = impl->executable->packed_weight_bytes();
  if (impl->memory.packed_weight_bytes > 0) {
    runtime::preflight(impl->memory.total_bytes(), impl->memory.describe(),
                       runtime::budget_for(resolved.info, *config_),
                       "'" + model.source() + "' on " + resolved.info.name);
  }
  record_placement(*impl, resolved.info.name);
  if (cache_state == "miss" && !background_compile) cache_store(*model.impl_, resolved.info, *impl);
  if (cache_state != "off" && !background_compile) record_packed_weight_bytes(*impl);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const std::string notes = impl->executable->compile_notes();
  log().info(
      "compiled '{}': device '{}' (from {}) -> {} = {} ({}); precision {}; cache {}; {:.1f} ms; {} "
      "nodes on {}{}",
      model.source(), request.text, source, resolved.info.name, resolved.info.full_name,
      resolved.why, impl->precision, cache_state, ms, impl->graph->nodes.size(), resolved.info.name,
      notes.empty() ? "" : "; " + notes);
  CompiledModel c;
  c.impl_ = impl;
  return c;
}

MemoryEstimate Core::memory_estimate(const Model& model, const std::string& device,
                                     const std::map<std::string, Shape>& input_shapes) const {
  SINTER_CHECK(model.impl_, invalid_argument, "memory_estimate: the model is empty");
  MemoryEstimate e = model.memory_estimate(input_shapes);
  const runtime::Resolution resolved = runtime::DeviceRegistry::instance().resolve(
      runtime::parse_device_name(device), model.impl_->graph.get(),
      {config_->get("hetero_policy"), config_->get("precision")});
  if (resolved.info.type == "cpu")
    e.packed_weight_bytes =
        runtime::compressed_weight_delta(*model.impl_->graph, config_->get("weights"));
  const auto shapes = runtime::effective_input_shapes(*model.impl_->graph, input_shapes);
  // Measured in an earlier run (below) where the cache knows it, else the device's own plan.
  const auto device_plan = [&] {
    plan_on_device(e, *resolved.device, *model.impl_->graph, *config_, shapes);
    return e;
  };
  if (!cache_ || model.impl_->cache_key.empty()) return device_plan();
  auto options = compile_options();
  const auto key = [&] {
    return runtime::ModelCache::compiled_key(model.impl_->cache_key, resolved.info, options,
                                             shapes);
  };
  // This compile, made before: its device said what its packed copies add (Winograd's
  // transformed weights, which the graph alone does not tell).
  const std::string this_compile = key();
  if (const int64_t packed =
          cache_->recorded_bytes(this_compile, runtime::ModelCache::kPackedWeightBytes);
      packed != -1)
    e.packed_weight_bytes = packed;
  int64_t measured = cache_->recorded_bytes(this_compile, runtime::ModelCache::kActivationBytes);
  // The weights setting changes no intermediate value: a compile with other weights measured
  // the same peak.
  for (const char* weights : {"f32", "f16", "int8"}) {
    if (measured >= 0) break;
    options["weights"] = weights;
    measured = cache_->recorded_bytes(key(), runtime::ModelCache::kActivationBytes);
  }
  if (measured < 0) return device_plan();
  use_measured(e, measured);
  return e;
}

std::vector<DeviceInfo> Core::available_devices() const {
  return runtime::DeviceRegistry::instance().infos();
}

CacheInfo Core::cache_info() const {
  CacheInfo info;
  info.dir = config_->get("cache_dir");
  info.enabled = cache_ != nullptr;
  info.max_bytes = config_->cache_size_bytes();
  if (!cache_) return info;
  info.entries = cache_->list();
  for (const auto& e : info.entries) info.total_bytes += e.bytes;
  return info;
}

int64_t Core::prune_cache(int64_t max_bytes) const {
  return cache_ ? cache_->prune(max_bytes) : 0;
}

int64_t Core::clear_cache() const {
  return cache_ ? cache_->clear() : 0;
}

// ---- CompiledModel

const MemoryEstimate& CompiledModel::memory_estimate() const {
  return impl_->memory;
}

InferRequest CompiledModel::create_infer_request() const {
  InferRequest r;
  r.impl_ = std::make_shared<detail::InferRequestImpl>();
  r.impl_->compiled = impl_;
  return r;
}
const std::vector<PortInfo>& CompiledModel::inputs() const {
  return impl_->graph->inputs;
}
const std::vector<PortInfo>& CompiledModel::outputs() const {
  return impl_->graph->outputs;
}
const std::string& CompiledModel::precision() const {
  return impl_->precision;
}
std::vector<std::string> CompiledModel::subgraph_devices() const {
  return impl_->subgraph_devices;
}
std::vector<std::string> CompiledModel::execution_devices() const {
  return impl_->execution_devices;
}
const std::vector<NodeReport>& CompiledModel::node_placement() const {
  return impl_->placement;
}

void InferRequest::set_profiling(bool on) {
  impl_->profiling = on;
}

int64_t InferRequest::peak_activation_bytes() const {
  return impl_->profile.peak_activation_bytes;
}

int64_t InferRequest::working_memory_bytes() const {
  return std::max(impl_->profile.working_bytes, impl_->profile.peak_activation_bytes);
}

std::vector<NodeReport> InferRequest::profile() const {
  std::vector<NodeReport> out = impl_->compiled->placement;
  // What ran may have been made after the compile (the CPU device optimises a graph with
  // dynamic input dims for the shapes of its first inference): ask the executable again.
  const device::PlacementReport now = impl_->compiled->executable->placement();
  for (std::size_t i = 0;
       i < out.size() && i < now.node_implementation.size() && i < now.node_device.size(); ++i) {
    out[i].device = now.node_device[i];
    out[i].implementation = now.node_implementation[i];
  }
  const auto& ms = impl_->profile.node_ms;
  for (std::size_t i = 0; i < out.size() && i < ms.size(); ++i) out[i].ms = ms[i];
  return out;
}

bool CompiledModel::loaded_from_cache() const {
  return impl_->loaded_from_cache;
}
void CompiledModel::release_working_memory() const {
  impl_->executable->release_working_memory();
}

std::map<std::string, int64_t> CompiledModel::placement() const {
  std::map<std::string, int64_t> counts;
  for (const auto& n : impl_->placement) ++counts[n.device];
  return counts;
}

// ---- InferRequest

namespace {

void check_idle(const detail::InferRequestImpl& r, const char* what) {
  SINTER_CHECK(!r.pending.valid(), invalid_argument,
               "{}: this request's start_async() inference is still in flight; call wait() first",
               what);
}

}  // namespace

void InferRequest::set_input(const std::string& name, Value value) {
  const auto& ports = impl_->compiled->graph->inputs;
  auto it =
      std::find_if(ports.begin(), ports.end(), [&](const PortInfo& p) { return p.name == name; });
  if (it == ports.end()) {
    std::string names;
    for (const auto& p : ports) names += (names.empty() ? "'" : ", '") + p.name + "'";
    raise(ErrorCategory::invalid_argument, "'{}' is not an input of the model; inputs are: {}",
          name, names);
  }
  check_input(*it, value);
  check_idle(*impl_, "set_input");
  impl_->inputs[name] = std::move(value);
}

namespace {

// The first inference of a cached compile whose input shapes are all static records its peak of
// intermediate values in the cache entry, so that later compiles' memory preflight includes it.
void record_activation_peak(const detail::CompiledModelImpl& compiled,
                            const std::map<std::string, Value>& inputs, int64_t peak) {
  if (!compiled.cache || compiled.entry_key.empty() || compiled.measured_activation_bytes >= 0 ||
      compiled.activation_recorded.exchange(true))
    return;
  for (const auto& [name, dims] : compiled.entry_shapes) {
    auto it = inputs.find(name);
    if (it == inputs.end() || !it->second.is_tensor() || it->second.tensor().shape() != dims)
      return;  // dynamic or other shapes: the peak would not describe this entry
  }
  try {
    compiled.cache->record_bytes(compiled.entry_key, runtime::ModelCache::kActivationBytes, peak);
  } catch (const std::exception& e) {
    log().warn("model cache: could not record the activation peak: {}", e.what());
  }
}

void check_inputs_set(const detail::InferRequestImpl& r) {
  for (const auto& p : r.compiled->graph->inputs) {
    const bool optional =
        p.kind == PortInfo::Kind::optional_tensor || p.kind == PortInfo::Kind::optional_sequence;
    SINTER_CHECK(r.inputs.count(p.name) || optional, invalid_argument,
                 "input '{}' ({}) was not set", p.name, to_string(p));
  }
}

void run_inference(detail::InferRequestImpl& r) {
  std::map<std::string, Value> values = r.inputs;
  for (const auto& p : r.compiled->graph->inputs) {
    if (!values.count(p.name)) values[p.name] = Value();
  }
  r.profile.time_nodes = r.profiling;
  r.profile.devices.clear();
  r.profile.transfer_bytes = 0;
  r.compiled->executable->run(values, &r.profile);
  if (r.profile.devices.empty()) r.profile.devices = r.compiled->subgraph_devices;
  // What a later preflight counts: the values and the kernels' working memory.
  record_activation_peak(*r.compiled, r.inputs,
                         std::max(r.profile.working_bytes, r.profile.peak_activation_bytes));
  r.outputs.clear();
  for (const auto& o : r.compiled->graph->outputs) r.outputs[o.name] = values[o.name];
}

}  // namespace

void InferRequest::infer() {
  check_idle(*impl_, "infer");
  check_inputs_set(*impl_);
  run_inference(*impl_);
}

void InferRequest::start_async() {
  check_idle(*impl_, "start_async");
  check_inputs_set(*impl_);
  impl_->outputs.clear();
  // A raw pointer, not the shared state: the future lives in that state, and a future of
  // std::async blocks in its destructor until the task is done, so the state outlives the task
  // (holding a shared_ptr here would make a cycle that leaks an unwaited request).
  impl_->pending = std::async(std::launch::async, [r = impl_.get()] { run_inference(*r); });
}

void InferRequest::wait() {
  if (!impl_->pending.valid()) return;
  std::future<void> done = std::move(impl_->pending);
  done.get();  // rethrows the inference's error
}

std::vector<std::string> InferRequest::executed_on() const {
  check_idle(*impl_, "executed_on");
  return impl_->profile.devices;
}

int64_t InferRequest::transfer_bytes() const {
  check_idle(*impl_, "transfer_bytes");
  return impl_->profile.transfer_bytes;
}

const Value& InferRequest::get_output(const std::string& name) const {
  check_idle(*impl_, "get_output");
  auto it = impl_->outputs.find(name);
  if (it == impl_->outputs.end()) {
    raise(ErrorCategory::invalid_argument,
          "'{}' is not an output of the model (or infer() has not run)", name);
  }
  return it->second;
}

// ---- Tensor files

Tensor load_tensor(const std::string& path) {
  const std::string bytes = read_file(path);
  if (looks_like_npy(bytes)) return parse_npy(bytes, path);
  return onnx_frontend::parse_tensor(bytes, path);
}

void save_npy(const Tensor& tensor, const std::string& path) {
  write_file_atomically(path, serialize_npy(tensor));
}

}  // namespace sinter
