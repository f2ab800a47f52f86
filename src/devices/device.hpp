// The device interface: what the runtime asks of every device (CPU, GPU, virtual ones).
//
// Kept small on purpose: a device describes itself, says which nodes it can run and why not,
// and compiles a graph into an Executable. Devices never include runtime internals or each
// other; virtual devices (HETERO, AUTO) reach others only through this interface.
//
//   auto exe = device.compile(graph, {});
//   std::map<std::string, Value> io = {{"x", x}};
//   exe->run(io);                       // adds the graph outputs to `io`
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.hpp"
#include "sinter/core.hpp"

namespace sinter::device {

struct NodeSupport {
  bool supported = false;
  std::string reason;          // why not, when not supported
  std::string implementation;  // what runs it, e.g. "oneDNN convolution", "C++ kernel"
};

// Filled by Executable::run when profiling: one entry per top-level node, in graph order.
struct RunProfile {
  bool time_nodes = true;  // false: only the activation peak is measured
  std::vector<double> node_ms;
  // High-water mark of the intermediate values alive at once (node outputs, not weights or
  // graph inputs), in bytes. Values that alias others (Reshape) are counted again.
  int64_t peak_activation_bytes = 0;
  // What the run needed beyond the weights: those values together with the memory kernels
  // allocate for themselves while they run (staging copies in another layout, Winograd's
  // transformed tiles), where the device knows it (the CPU's tensor arena); else 0.
  int64_t working_bytes = 0;
  // Filled by virtual devices (always, not only when profiling): the devices that ran this
  // inference, each once in order of first use (empty: the compiled device), and the bytes
  // passed between them.
  std::vector<std::string> devices;
  int64_t transfer_bytes = 0;
};

// Where a virtual device put each top-level node (empty vectors: all on the compiled device).
struct PlacementReport {
  std::vector<std::string> node_device;
  std::vector<std::string> node_implementation;
  std::vector<std::string> subgraph_devices;  // in execution order, e.g. {"GPU.0", "CPU"}
};

struct CompileOptions {
  int threads = 0;  // 0: the device's default (one per core on the CPU)
  // A folder (in the model cache) where the device may keep what it compiled for itself, such
  // as OpenCL program binaries; empty: keep nothing.
  std::string cache_dir;
  // A folder of the model's own cache entry where a device may keep copies it makes of this
  // model's weights (the CPU's packed weights), so that a later process maps them instead of
  // making them again; empty: keep nothing. Removed with the model's entry.
  std::string weights_cache_dir;
  // "f32" (default), "f16" or "bf16": a device that cannot compute at the precision asked for
  // refuses the compile (unsupported_op) rather than run another one silently.
  std::string precision = "f32";
  // How a device keeps constant weights: "f32" (default), "f16" or "int8" (per output channel).
  // The CPU keeps its packed copies so and widens them per layer and run; other devices keep
  // their own storage (the GPU's f16 precision halves its weights).
  std::string weights = "f32";
  // The input shapes the caller compiles for, where it said (-1: a dimension left open). A
  // device may optimise for exactly these; inferences with other shapes must still run.
  std::map<std::string, Shape> input_shapes;
};

class Executable {
 public:
  virtual ~Executable() = default;
  // Reads graph inputs from `values` and adds the graph outputs. Thread-safe. With `profile`,
  // records the time of each top-level node.
  virtual void run(std::map<std::string, Value>& values, RunProfile* profile = nullptr) const = 0;
  // What the device did while compiling, for the compile log line ("" when nothing to say),
  // e.g. "OpenCL program loaded from the cache in 12 ms".
  virtual std::string compile_notes() const { return ""; }
  // What runs, e.g. "f32" or "f16 (f16 storage, f32 arithmetic)".
  virtual std::string precision() const { return "f32"; }
  // Virtual devices say where each node went; plain devices run everything themselves.
  virtual PlacementReport placement() const { return {}; }
  // Bytes of the weight copies the device's kernels make once, in their own layouts (pre-packed,
  // Winograd-transformed), on top of the model's weights; 0 where it makes none or does not know.
  virtual int64_t packed_weight_bytes() const { return 0; }
  // Gives back memory kept between runs for intermediate values (arenas), where a device keeps
  // any; the next run allocates it again.
  virtual void release_working_memory() const {}
};

class Device {
 public:
  virtual ~Device() = default;
  virtual DeviceInfo info() const = 0;
  // One entry per top-level node of `graph`, in order.
  virtual std::vector<NodeSupport> query(const ir::Graph& graph) const = 0;
  virtual std::unique_ptr<Executable> compile(std::shared_ptr<const ir::Graph> graph,
                                              const CompileOptions& options) const = 0;
  // The peak bytes of intermediate values when this device runs `graph` with `options`, where
  // its own rewrites change which values exist (the CPU's fused attention makes no score
  // matrix); -1: it runs the graph's values as they are (ir/activation_estimate.hpp plans them).
  // Called before compiling, by the memory preflight.
  virtual int64_t planned_activation_bytes(const ir::Graph& graph,
                                           const CompileOptions& options) const {
    (void)graph;
    (void)options;
    return -1;
  }
};

}  // namespace sinter::device
