// The objects behind the public handles (include/sinter/core.hpp).
#pragma once

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "ir/graph.hpp"
#include "runtime/model_cache.hpp"
#include "sinter/core.hpp"

namespace sinter::detail {

struct ModelImpl {
  std::shared_ptr<const ir::Graph> graph;
  std::string source;
  std::string format = "onnx";
  std::string cache_key;                 // model-cache key of the source bytes ("" = none)
  std::string dir;                       // the model's folder, where external data lives
  std::set<std::string> external_files;  // external data files read, relative to dir
  bool read_from_cache = false;          // the graph came from the model cache
  // A .sinter file the user converted: nothing to store in the model cache, but its compiles are
  // recorded there (their measured activation peak) under a key from the file's fixed prefix,
  // whose header checksum covers the graph and every tensor's checksum.
  bool converted_file = false;
  // Converted by this read and stored in the model cache at once; the graph is then the cache
  // entry's mapping, not the parsed copy (whose memory is given back before anything compiles).
  bool stored_in_cache = false;
};

struct CompiledModelImpl {
  std::shared_ptr<const ir::Graph> graph;
  std::shared_ptr<const device::Device> device;
  std::unique_ptr<device::Executable> executable;
  std::vector<std::string> execution_devices;
  std::vector<std::string> subgraph_devices;  // in execution order; one entry unless split
  std::string precision;  // what the device runs, e.g. "f16 (f16 storage, f32 arithmetic)"
  bool loaded_from_cache = false;
  std::vector<NodeReport> placement;  // per top-level node
  // The model-cache entry of this compile (empty key: no cache).
  std::shared_ptr<runtime::ModelCache> cache;
  std::string entry_key;
  std::map<std::string, Shape> entry_shapes;  // -1 for dynamic dims
  int64_t measured_activation_bytes = -1;     // from the entry; -1: not measured yet
  MemoryEstimate memory;                      // what the preflight counted
  mutable std::atomic<bool> activation_recorded{false};
};

struct InferRequestImpl {
  std::shared_ptr<const CompiledModelImpl> compiled;
  std::map<std::string, Value> inputs;
  std::map<std::string, Value> outputs;
  bool profiling = false;
  device::RunProfile profile;
  std::future<void> pending;  // an inference started by start_async()
};

}  // namespace sinter::detail
