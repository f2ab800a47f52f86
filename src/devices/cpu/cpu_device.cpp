#include "devices/cpu/cpu_device.hpp"

#include <cpuid.h>
#include <malloc.h>
#include <omp.h>
#include <xxhash.h>
#include <dnnl.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>

#include <fmt/ranges.h>

#include "base/errors.hpp"
#include "base/host_memory.hpp"
#include "base/tensor_arena.hpp"
#include "devices/cpu/activation_plan.hpp"
#include "devices/cpu/arena_plan_file.hpp"
#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/cpu_pipeline.hpp"
#include "devices/cpu/graph_executor.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/attention_tiles.hpp"
#include "devices/cpu/ops/vector_math.hpp"
#include "devices/cpu/packed_weight_store.hpp"
#include "devices/cpu/packed_weights.hpp"

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

// Native precisions, from CPUID: BF16 needs AVX512_BF16 (or AMX), FP16 needs AVX512_FP16,
// INT8 needs VNNI. FP32 is always there.
std::vector<std::string> cpu_capabilities() {
  std::vector<std::string> caps = {"FP32"};
  unsigned a = 0, b = 0, c = 0, d = 0;
  bool avx512_fp16 = false, avx512_bf16 = false, vnni = false, amx_bf16 = false;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    avx512_fp16 = (d >> 23) & 1;
    amx_bf16 = (d >> 22) & 1;
    vnni = (c >> 11) & 1;
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    avx512_bf16 = (a >> 5) & 1;
    vnni = vnni || ((a >> 4) & 1);  // AVX-VNNI
  }
  // Only what the ISA oneDNN may use allows (ONEDNN_MAX_CPU_ISA caps it below the CPU's).
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const bool bf16_isa =
      isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  const bool vnni_isa =
      bf16_isa || isa == dnnl::cpu_isa::avx2_vnni || isa == dnnl::cpu_isa::avx512_core_vnni;
  if (avx512_fp16 && bf16_isa) caps.push_back("FP16");
  if ((avx512_bf16 || amx_bf16) && bf16_isa) caps.push_back("BF16");
  if (vnni && vnni_isa) caps.push_back("INT8");
  return caps;
}

// The oneDNN implementation a fused node was found to get at compile time (reference_guard.cpp),
// as " [brgconv:avx512_core]", and the post-ops that run as nodes of their own because no JIT
// kernel takes them fused; "" when the shapes were not known then.
std::string onednn_kernel(const ir::Node& n) {
  const ir::Attribute* impl = n.find("onednn_impl");
  if (!impl) return "";
  std::string s = " [" + impl->s + "]";
  if (const ir::Attribute* separate = n.find("separate_post_ops")) {
    s += "; then";
    for (const auto& p : separate->strings) s += " " + p;
    s += " as nodes of their own (no oneDNN JIT kernel takes them fused)";
  }
  return s;
}

// What runs a node: oneDNN for convolution and matrix products (f16/bf16 widened to f32),
// plain C++ kernels for the rest.
// How a quantized kernel gets its input's codes: from the input's range each run
// (DynamicQuantizeLinear) or with the fixed scale and zero point of a QDQ model.
std::string quantization_kind(const ir::Node& n) {
  return n.find("input_scale") ? "fixed-scale uint8 quantization (QDQ)"
                               : "dynamic uint8 quantization";
}

std::string implementation_of(const ir::Node& n) {
  if (n.domain == kCpuDomain && n.op_type == "FusedConv" && n.attr_int("direct_depthwise", 0)) {
    std::string s = "direct depthwise convolution (C++)";
    if (const ir::Attribute* post = n.find("post_ops"))
      for (const auto& p : post->strings) s += " + " + p;
    const ir::Attribute* impl = n.find("onednn_impl");
    return s + (impl ? " [instead of oneDNN's " + impl->s + "]" : "");
  }
  if (n.domain == kCpuDomain && (n.op_type == "FusedConv" || n.op_type == "FusedMatMul")) {
    const ir::Attribute* winograd = n.find("winograd");
    std::string s = n.op_type == "FusedMatMul" ? "oneDNN matmul"
                    : winograd && winograd->i  ? "oneDNN Winograd convolution"
                                               : "oneDNN convolution";
    if (n.inputs.size() > 2 && !n.inputs[2].empty() && n.op_type == "FusedMatMul") s += " + bias";
    if (const ir::Attribute* post = n.find("post_ops"))
      for (const auto& p : post->strings) s += " + " + p;
    return s + onednn_kernel(n);
  }
  if (n.domain == kCpuDomain && n.op_type == "DynamicQuantConv") {
    // Without VNNI, oneDNN's int8 products saturate: the kernel computes the same integers in f32.
    std::string s =
        quantization_kind(n) + (onednn::exact_int8_products()
                                    ? " + oneDNN int8 convolution"
                                    : " + oneDNN f32 convolution of the uint8 values (no VNNI)");
    if (const ir::Attribute* post = n.find("post_ops"))
      for (const auto& p : post->strings) s += " + " + p;
    return s + onednn_kernel(n);
  }
  if (n.domain == kCpuDomain && n.op_type == "DynamicQuantMatMul") {
    // Without VNNI the kernel multiplies the codes' 7-bit halves apart (exact without it).
    std::string s =
        quantization_kind(n) + (onednn::exact_int8_products()
                                    ? " + oneDNN int8 matmul"
                                    : " + oneDNN int8 matmul of the codes' 7-bit halves (no VNNI)");
    if (n.inputs.size() > 4 && !n.inputs[4].empty()) s += " + bias";
    return s + onednn_kernel(n);
  }
  if (n.domain == kCpuDomain && n.op_type == "QuantizeDequantize")
    return "QuantizeLinear + DequantizeLinear in one pass (C++)";
  if (n.domain == kCpuDomain && n.op_type == "FusedConvTranspose") {
    std::string s = "sgemm + col2im transposed convolution";
    if (const ir::Attribute* post = n.find("post_ops"))
      for (const auto& p : post->strings) s += " + " + p;
    return s;
  }
  if (n.domain == kCpuDomain && (n.op_type == "GlobalAveragePool" || n.op_type == "ChannelScale" ||
                                 n.op_type == "ChannelShift" || n.op_type == "Resize"))
    return "C++ kernel on the convolutions' channels-last layout";
  if (n.domain == kCpuDomain && (n.op_type == "Concat" || n.op_type == "Split")) {
    const ir::Attribute* layout = n.find("layout");
    return std::string(n.op_type == "Concat" ? "oneDNN concat" : "oneDNN reorders") +
           " in the convolutions' " +
           std::string(layout && layout->s == onednn::kChannelsLast ? "channels-last"
                       : layout && layout->s == onednn::kBlocked16  ? "nChw16c"
                                                                    : "nChw8c") +
           " layout";
  }
  if (n.domain == kCpuDomain && (n.op_type == "MaxPool" || n.op_type == "AveragePool")) {
    const ir::Attribute* layout = n.find("layout");
    const std::string name = !layout                              ? "plain"
                             : layout->s == onednn::kChannelsLast ? "channels-last"
                             : layout->s == onednn::kBlocked16    ? "nChw16c"
                             : layout->s == onednn::kBlocked8     ? "nChw8c"
                                                                  : layout->s;
    return "oneDNN pooling on the convolutions' " + name + " layout";
  }
  if (n.domain == kCpuDomain &&
      (n.op_type == "ChannelsLastTokens" || n.op_type == "TokensAsChannelsLast"))
    return "view of the convolutions' channels-last memory (no copy)";
  if (n.domain == kCpuDomain && n.op_type == "SqueezeExcite")
    return "C++ squeeze-and-excitation (channel means, two small products, channel scale)";
  if (n.domain == kCpuDomain && n.op_type == "Attention") {
    using attention_tiles::Kind;
    const auto tiles = attention_tiles::tiles_for(n.attr_int("compute_bf16", 0) != 0);
    if (tiles == Kind::bf16)
      return std::string("fused attention (") + attention_tiles::bf16_instruction_set() +
             " tiles, bf16 products, f32 vectorised softmax, no score tensor)";
    if (tiles == Kind::f32)
      return std::string("fused attention (") + attention_tiles::instruction_set() +
             " tiles, f32 products, vectorised softmax, no score tensor)";
    return "fused attention (sgemm, vectorised softmax, no score tensor)";
  }
  if (n.domain == kCpuDomain && n.op_type == "GroupNorm")
    return n.find("activation") ? "vectorised C++ group norm + " + n.find("activation")->s
                                : "vectorised C++ group norm";
  if (n.domain == kCpuDomain && n.op_type == "ChannelLayerNorm")
    return n.find("layout") ? "oneDNN layer norm over the channels of channels-last memory"
                            : "vectorised C++ layer norm over channels";
  if (n.domain == kCpuDomain && n.op_type == "GatedGelu")
    return "vectorised C++ GEGLU gate (values x GELU(gates), no split copies)";
  if (n.domain == kCpuDomain) return "oneDNN " + n.op_type + " (f32) / C++ kernel";
  if (!n.domain.empty()) return "C++ kernel";
  if (n.op_type == "Conv") return "oneDNN convolution";
  if (n.op_type == "MatMul" || n.op_type == "Gemm") return "oneDNN sgemm";
  // These take oneDNN's primitive for f32 in the common layouts, the C++ kernel otherwise.
  if (n.op_type == "Add" || n.op_type == "Sub" || n.op_type == "Mul" || n.op_type == "Div")
    return "oneDNN binary (f32) / C++ kernel";
  if (n.op_type == "Softmax" || n.op_type == "LogSoftmax")
    return "oneDNN softmax (f32) / C++ kernel";
  if (n.op_type == "LayerNormalization") return "oneDNN layer norm (f32) / C++ kernel";
  if (n.op_type == "Relu" || n.op_type == "Sigmoid" || n.op_type == "Tanh")
    return "oneDNN eltwise (f32) / C++ kernel";
  return "C++ kernel";
}

// The op a user's model calls a (possibly rewritten) node.
std::string original_op(const ir::Node& n) {
  if (n.domain != kCpuDomain) return n.op_type;
  if (n.op_type == "FusedConv") return "Conv";
  if (n.op_type == "FusedConvTranspose") return "ConvTranspose";
  // A QDQ layer was a Conv or MatMul of dequantized values; ONNX Runtime's dynamic
  // quantization writes ConvInteger and MatMulInteger.
  if (n.op_type == "DynamicQuantConv") return n.find("input_scale") ? "Conv" : "ConvInteger";
  if (n.op_type == "DynamicQuantMatMul") return n.find("input_scale") ? "MatMul" : "MatMulInteger";
  if (n.op_type == "QuantizeDequantize") return "DequantizeLinear";
  if (n.op_type == "FusedMatMul") return "MatMul";
  if (n.op_type == "GroupNorm") return "GroupNorm";
  if (n.op_type == "ChannelLayerNorm") return "LayerNorm";
  if (n.op_type == "ChannelScale" || n.op_type == "Swish" || n.op_type.rfind("Gelu", 0) == 0 ||
      n.op_type == "GatedGelu")
    return "Mul";  // a per-channel Mul; Swish, GELU and the GEGLU gate end with a Mul
  if (n.op_type == "ChannelShift") return "Add";
  if (n.op_type == "ChannelsLastTokens" || n.op_type == "TokensAsChannelsLast") return "Transpose";
  return n.op_type;  // Attention, and ops kept under their name (pools in the conv layout)
}

// One optimised graph and what running it needs.
struct CpuCompiled {
  CpuProgram program;
  ExecutionPlan plan;  // its node caches fill on the first runs (thread-safe)
  std::shared_ptr<const PackedWeightStore> store;  // null: packed weights are not kept
  // Where the arenas' plan is kept for later processes ("": not kept; arena_plan_file.hpp).
  std::string arena_plan_path;
  CpuCompiled(CpuProgram p, std::shared_ptr<const PackedWeightStore> s, std::string plan_path)
      : program(std::move(p)),
        plan(*program.graph),
        store(std::move(s)),
        arena_plan_path(std::move(plan_path)) {
    if (!arena_plan_path.empty()) kept_plan = read_arena_plan(arena_plan_path);
    if (!store) return;
    for (std::size_t i = 0; i < program.graph->nodes.size(); ++i) {
      const ir::Node& n = program.graph->nodes[i];
      if (!n.outputs.empty() && !n.outputs[0].empty())
        plan.caches[i].use_store(store.get(), n.outputs[0]);
    }
  }

  // The memory of one run's intermediate tensors, planned from their lifetimes: one arena per
  // request running this graph at the same time, kept between runs. A new one starts from the
  // latest plan made for this graph, in this process or an earlier one.
  std::shared_ptr<TensorArena> take_arena() const {
    std::lock_guard<std::mutex> lock(arenas_mutex);
    if (idle_arenas.empty()) {
      auto arena = std::make_shared<TensorArena>();
      if (kept_plan) arena->adopt_plan(*kept_plan);
      return arena;
    }
    auto arena = std::move(idle_arenas.back());
    idle_arenas.pop_back();
    return arena;
  }
  // After a run: a plan it made is kept (for the next process too).
  void give_back(std::shared_ptr<TensorArena> arena) const {
    std::optional<std::vector<TensorArena::PlannedBlock>> made = arena->take_new_plan();
    {
      std::lock_guard<std::mutex> lock(arenas_mutex);
      idle_arenas.push_back(std::move(arena));
      if (!made || made == kept_plan) return;
      kept_plan = made;
    }
    // Written outside the lock: other requests take and give back arenas meanwhile.
    if (!arena_plan_path.empty()) write_arena_plan(arena_plan_path, *made);
  }
  void release_arenas() const {
    std::lock_guard<std::mutex> lock(arenas_mutex);
    for (const auto& arena : idle_arenas) arena->release_buffer();
  }
  mutable std::mutex arenas_mutex;
  mutable std::vector<std::shared_ptr<TensorArena>> idle_arenas;
  mutable std::optional<std::vector<TensorArena::PlannedBlock>> kept_plan;
};

// The shapes of the graph's inputs (those without a default) in `given`, in the graph's order;
// nullopt when one is missing, not a tensor input or has open (negative) dims.
std::optional<std::vector<Shape>> input_signature(const ir::Graph& graph,
                                                  const std::map<std::string, Shape>& given) {
  std::vector<Shape> shapes;
  for (const auto& in : graph.inputs) {
    if (graph.constants.count(in.name)) continue;
    auto it = given.find(in.name);
    if (it == given.end() || in.kind != PortInfo::Kind::tensor) return std::nullopt;
    for (int64_t d : it->second)
      if (d < 0) return std::nullopt;
    shapes.push_back(it->second);
  }
  return shapes;
}

// The same for the tensors an inference is given.
std::optional<std::vector<Shape>> input_signature(const ir::Graph& graph,
                                                  const std::map<std::string, Value>& values) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, v] : values)
    if (v.is_tensor()) shapes[name] = v.tensor().shape();
  return input_signature(graph, shapes);
}

bool has_dynamic_input_dims(const ir::Graph& graph) {
  for (const auto& in : graph.inputs) {
    if (graph.constants.count(in.name)) continue;
    if (in.kind != PortInfo::Kind::tensor || !in.has_shape) return true;
    for (const auto& d : in.shape)
      if (!d.is_static()) return true;
  }
  return false;
}

// Runs a graph the CPU way. Most rewrites need known shapes (layout propagation, residual Adds
// and normalisations fused into their neighbours, ...): for a graph whose inputs have dynamic
// dims, one set of input shapes gets a graph optimised for exactly those shapes ("specialised":
// the shapes the compile was given, else those of the first inference), and inferences with any
// other shapes run a graph optimised for all shapes ("generic"). Each is made when first needed.
class CpuExecutable final : public device::Executable {
 public:
  // Profiles and placement speak of the nodes of `graph` (the optimised graphs' `sources`).
  // `weights_cache_dir`: where packed weights are kept between processes ("": not kept).
  CpuExecutable(std::shared_ptr<const ir::Graph> graph, int threads, CpuChoices choices,
                const std::map<std::string, Shape>& compile_shapes,
                const std::string& weights_cache_dir)
      : graph_(std::move(graph)),
        threads_(threads),
        choices_(std::move(choices)),
        dynamic_(has_dynamic_input_dims(*graph_)),
        store_(weights_cache_dir.empty()
                   ? nullptr
                   : std::make_shared<const PackedWeightStore>(weights_cache_dir)) {
    const auto signature = input_signature(*graph_, compile_shapes);
    if (dynamic_ && signature) {
      specialised_ = specialise(*signature);
    }
    if (!specialised_) generic_ = make(optimize_for_cpu(*graph_, choices_), {});
    latest_ = specialised_ ? specialised_ : generic_;
  }

  void run(std::map<std::string, Value>& values, device::RunProfile* profile) const override {
    // OpenMP's thread count is per calling thread: set it for this request's thread, which is
    // also what oneDNN's primitives use.
    if (threads_ > 0) omp_set_num_threads(threads_);
    const std::shared_ptr<const CpuCompiled> compiled = compiled_for(values);
    std::shared_ptr<TensorArena> arena = compiled->take_arena();
    // Back to the pool when the run ends, also when it fails.
    std::unique_ptr<void, std::function<void(void*)>> give_back(
        arena.get(), [&](void*) { compiled->give_back(arena); });
    run_in_arena(compiled, arena, values, profile);
    // The arena's buffer holds the live values and what kernels allocate for themselves while
    // they run (staging copies, Winograd's scratch), planned when the run ends: the live values'
    // peak alone was 640 of SD's VAE decoder's 768 MiB.
    if (profile)
      profile->working_bytes =
          std::max(profile->peak_activation_bytes, static_cast<int64_t>(arena->planned_bytes()));
  }

  // One run of `compiled` with `arena` serving its tensors.
  void run_in_arena(const std::shared_ptr<const CpuCompiled>& compiled,
                    const std::shared_ptr<TensorArena>& arena, std::map<std::string, Value>& values,
                    device::RunProfile* profile) const {
    // Declared before the scope: the run's tensors are freed while the arena watches.
    TensorArena::Run arena_run(arena);
    const ir::Graph& graph = *compiled->program.graph;
    Scope scope(compiled->plan.constants, nullptr);
    for (const auto& in : graph.inputs) {
      auto it = values.find(in.name);
      SINTER_CHECK(it != values.end(), invalid_argument, "input '{}' was not set", in.name);
      scope.set(in.name, it->second);
    }
    try {
      run_nodes(graph, scope, profile, &compiled->plan);
    } catch (...) {
      forget_if_specialised(compiled);
      throw;
    }
    if (profile && profile->time_nodes) {
      // A fused node's time is reported on the first node it stands for; a node the device
      // added (a plain copy of a value kept in the convolutions' layout, made right after its
      // producer) on the node before it.
      const std::size_t original_nodes = graph_->nodes.size();
      std::vector<double> by_source(original_nodes, 0.0);
      std::size_t reported = original_nodes;
      for (std::size_t k = 0; k < graph.nodes.size(); ++k) {
        const auto& sources = graph.nodes[k].sources;
        if (!sources.empty()) reported = sources[0];
        if (reported < original_nodes) by_source[reported] += profile->node_ms[k];
      }
      profile->node_ms = std::move(by_source);
    }
    for (const auto& out : graph.outputs) {
      const Value* v = scope.find(out.name);
      SINTER_CHECK(v, internal, "output '{}' was not produced", out.name);
      values[out.name] = *v;
    }
  }

  std::string compile_notes() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string& notes = latest_->program.notes;
    if (latest_ != specialised_ || notes.empty()) return notes;
    std::string shapes;
    for (const auto& s : signature_) shapes += (shapes.empty() ? "" : ", ") + to_string(s);
    return notes + " (for input shapes " + shapes + ")";
  }
  std::string precision() const override { return latest()->program.precision; }
  int64_t packed_weight_bytes() const override {
    return cpu::packed_weight_bytes(*latest()->program.graph);
  }

  // Of the graph that ran last (the one the compile made until another ran).
  device::PlacementReport placement() const override {
    const auto compiled = latest();
    const std::size_t original_nodes = graph_->nodes.size();
    device::PlacementReport r;
    r.node_device.assign(original_nodes, "CPU");
    r.node_implementation.assign(original_nodes, "removed by graph optimisation");
    for (const auto& n : compiled->program.graph->nodes) {
      for (std::size_t k = 0; k < n.sources.size(); ++k) {
        if (n.sources[k] >= original_nodes) continue;
        r.node_implementation[n.sources[k]] =
            k == 0 ? implementation_of(n) : "fused into " + original_op(n);
      }
    }
    r.subgraph_devices = {"CPU"};
    return r;
  }

  void release_working_memory() const override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& c : {generic_, specialised_})
        if (c) c->release_arenas();
    }
    malloc_trim(0);  // an arena below glibc's mmap threshold went back to the heap, not the OS
  }

 private:
  // `signature`: the input shapes the program is for (empty: the generic one).
  std::shared_ptr<const CpuCompiled> make(CpuProgram program,
                                          const std::vector<Shape>& signature) const {
    std::string plan_path;
    // Not for the generic graph of a model with dynamic inputs: it serves whatever shapes the
    // specialised one does not, and would write a new plan whenever they change.
    if (store_ && (!dynamic_ || !signature.empty())) {
      // The allocations of a run depend on the shapes, the choices and the thread count.
      std::string what = fmt::format("{} {} {} {}", choices_.precision, choices_.weights,
                                     threads_ > 0 ? threads_ : omp_get_max_threads(),
                                     signature.empty() ? "static" : "");
      for (const auto& s : signature) what += to_string(s) + ";";
      plan_path = fmt::format("{}/arena-{:016x}.plan", store_->dir(),
                              XXH3_64bits(what.data(), what.size()));
    }
    return std::make_shared<const CpuCompiled>(std::move(program), store_, std::move(plan_path));
  }

  // The graph optimised for `signature`; null when the shapes do not fit the graph (the generic
  // graph's kernels then say which node refuses them).
  std::shared_ptr<const CpuCompiled> specialise(const std::vector<Shape>& signature) const {
    std::map<std::string, Shape> shapes;
    std::size_t k = 0;
    for (const auto& in : graph_->inputs)
      if (!graph_->constants.count(in.name)) shapes[in.name] = signature[k++];
    try {
      auto compiled = make(optimize_for_cpu(*graph_, choices_, shapes), signature);
      signature_ = signature;
      return compiled;
    } catch (const Error&) {
      failed_signature_ = signature;  // not tried again for these shapes
      return nullptr;
    }
  }

  std::shared_ptr<const CpuCompiled> compiled_for(
      const std::map<std::string, Value>& values) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (dynamic_) {
      const auto signature = input_signature(*graph_, values);
      if (signature && !specialised_ && failed_signature_ != signature)
        specialised_ = specialise(*signature);
      if (signature && specialised_ && *signature == signature_) return latest_ = specialised_;
    }
    if (!generic_) generic_ = make(optimize_for_cpu(*graph_, choices_), {});
    return latest_ = generic_;
  }

  // A run of the specialised graph failed (inputs the model does not take): specialise again
  // for the next inference's shapes rather than keep shapes no good inference has.
  void forget_if_specialised(const std::shared_ptr<const CpuCompiled>& compiled) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (compiled != specialised_) return;
    specialised_.reset();
    signature_.clear();
  }

  std::shared_ptr<const CpuCompiled> latest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return latest_;
  }

  std::shared_ptr<const ir::Graph> graph_;  // as the device was given it
  int threads_ = 0;
  CpuChoices choices_;
  bool dynamic_ = false;
  std::shared_ptr<const PackedWeightStore> store_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const CpuCompiled> generic_, specialised_, latest_;
  mutable std::vector<Shape> signature_;
  mutable std::optional<std::vector<Shape>> failed_signature_;
};

class CpuDevice final : public device::Device {
 public:
  DeviceInfo info() const override {
    DeviceInfo d;
    d.name = "CPU";
    d.full_name = cpu_model_name();
    d.type = "cpu";
    d.driver = isa_name();
    const HostMemory mem = host_memory();
    d.memory_total_bytes = mem.total_bytes;
    d.memory_available_bytes = mem.available_bytes;
    d.capabilities = cpu_capabilities();
    const dnnl_version_t* v = dnnl_version();
    d.caching_properties["isa"] = isa_name();
    d.caching_properties["onednn"] = fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
    d.properties["threads"] = std::to_string(omp_get_max_threads());
    // The instruction set of sinter's own vectorised kernels (vector_math.hpp), which
    // SINTER_CPU_VEC_ISA or ONEDNN_MAX_CPU_ISA may cap below the CPU's.
    d.properties["vector_kernels"] = vec::vector_isa();
    d.properties["memory_limited_by"] = mem.limited_by;
    return d;
  }

  std::vector<device::NodeSupport> query(const ir::Graph& graph) const override {
    std::vector<device::NodeSupport> out;
    for (const auto& n : graph.nodes) {
      device::NodeSupport s;
      s.supported =
          n.domain != kCpuDomain && KernelRegistry::instance().find(n.domain, n.op_type) != nullptr;
      if (!s.supported) s.reason = "no CPU kernel for " + n.op_type;
      if (n.domain == kCpuDomain) s.reason = std::string("domain ") + kCpuDomain + " is internal";
      s.implementation = implementation_of(n);
      out.push_back(s);
    }
    return out;
  }

  std::unique_ptr<device::Executable> compile(
      std::shared_ptr<const ir::Graph> graph,
      const device::CompileOptions& options) const override {
    const auto caps = cpu_capabilities();
    const bool has_bf16 = std::find(caps.begin(), caps.end(), "BF16") != caps.end();
    SINTER_CHECK(options.precision != "bf16" || has_bf16, unsupported_op,
                 "precision bf16 needs a CPU with AVX512_BF16 or AMX instructions; this one ({}) "
                 "has neither (capabilities: {}); use f32",
                 cpu_model_name(), fmt::format("{}", fmt::join(caps, ", ")));
    SINTER_CHECK(
        options.precision == "f32" || options.precision == "bf16", unsupported_op,
        "CPU computes in f32 or bf16; precision '{}' is not available on it (the GPU device "
        "has f16)",
        options.precision);
    check_kernels(*graph);
    // The device's own fused ops trust the attributes its rewrites set; a model may not use them.
    for (const auto& n : graph->nodes)
      SINTER_CHECK(n.domain != kCpuDomain, invalid_model,
                   "{}: domain '{}' is reserved for the CPU device's internal ops", n.label(),
                   kCpuDomain);
    SINTER_CHECK(options.weights == "f32" || options.weights == "f16" || options.weights == "int8",
                 invalid_argument, "weights '{}' is not one of f32, f16, int8", options.weights);
    return std::make_unique<CpuExecutable>(std::move(graph), options.threads,
                                           CpuChoices{options.precision, options.weights},
                                           options.input_shapes, options.weights_cache_dir);
  }

  int64_t planned_activation_bytes(const ir::Graph& graph,
                                   const device::CompileOptions& options) const override {
    // A graph the compile would refuse (bf16 here without BF16, ops without kernels) keeps
    // the graph's own plan; the compile says what is wrong.
    try {
      const ir::ActivationEstimate a = plan_activations(
          graph, CpuChoices{options.precision, options.weights}, options.input_shapes);
      return a.unsized_values == 0 ? a.peak_bytes : -1;
    } catch (const Error&) {
      return -1;
    }
  }
};

}  // namespace

std::unique_ptr<device::Device> make_cpu_device() {
  // Intermediate tensors of an inference are freed and allocated again at the same sizes on the
  // next one. glibc serves blocks above its mmap threshold with fresh pages each time, and every
  // first touch of a page faults: on a 16 MiB attention matrix that cost more than the
  // arithmetic. Keeping such blocks in the heap (up to 32 MiB, glibc's limit) and not trimming
  // it back lets the next inference reuse warm memory; the peak stays what it was.
  static const bool tuned = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    return true;
  }();
  (void)tuned;
  return std::make_unique<CpuDevice>();
}

}  // namespace sinter::cpu
