#include "runtime/memory_preflight.hpp"

#include "base/errors.hpp"
#include "base/host_memory.hpp"
#include "base/logging.hpp"
#include "base/mapped_file.hpp"
#include "ir/activation_estimate.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter {

std::string MemoryEstimate::describe() const {
  std::string packed;
  if (packed_weight_bytes > 0)
    packed =
        fmt::format(" + their packed copies {:.1f} MiB", double(packed_weight_bytes) / 1048576.0);
  else if (packed_weight_bytes < 0)
    packed = fmt::format(" - {:.1f} MiB their smaller packed copies give back",
                         double(-packed_weight_bytes) / 1048576.0);
  std::string s =
      fmt::format("weights {:.1f} MiB{} + inputs {:.1f} MiB + intermediate values {:.1f} MiB {}",
                  double(weight_bytes) / 1048576.0, packed, double(input_bytes) / 1048576.0,
                  double(activation_bytes) / 1048576.0,
                  activation_source == "measured"
                      ? "measured in an earlier run, with the kernels' working memory"
                      : "planned");
  if (unsized_values > 0)
    s += fmt::format("; {} value{} of unknown size not counted (e.g. '{}')", unsized_values,
                     unsized_values == 1 ? "" : "s", first_unsized);
  return s;
}

}  // namespace sinter

namespace sinter::runtime {

namespace {

std::string mib(int64_t bytes) {
  return fmt::format("{:.1f} MiB", double(bytes) / 1048576.0);
}

// Bytes of lookup tables mapped from a file that a run never touches: a table read only by
// Gather (axis 0) brings in the rows its indices name, at most one row per index, so of a text
// encoder's token embedding (49408 rows) a 77-token prompt keeps 77 resident. Tables held in
// memory (a parsed ONNX file) are resident whole and not counted here.
int64_t untouched_table_bytes(const ir::Graph& graph, const ir::ShapeInference& shapes) {
  constexpr int64_t kPage = 4096;
  int64_t untouched = 0;
  const auto readers = passes::readers_of(graph);
  for (const auto& [name, table] : graph.constants) {
    if (table.rank() < 1 || table.shape()[0] <= 0 ||
        !MappedFile::contains(table.data(), table.byte_size()))
      continue;
    auto r = readers.find(name);
    if (r == readers.end()) continue;
    int64_t rows = 0;
    for (std::size_t k : r->second) {
      const ir::Node& n = graph.nodes[k];
      auto indices = n.inputs.size() == 2 ? shapes.values.find(n.inputs[1]) : shapes.values.end();
      if (n.op_type != "Gather" || !n.domain.empty() || n.inputs[0] != name ||
          n.attr_int("axis", 0) != 0 || indices == shapes.values.end() ||
          indices->second.byte_size() < 0) {
        rows = -1;
        break;
      }
      int64_t count = 1;
      for (int64_t d : indices->second.dims) count *= d;
      rows += count;
    }
    if (rows < 0) continue;
    const int64_t bytes = static_cast<int64_t>(table.byte_size());
    const int64_t row_pages = (bytes / table.shape()[0] + kPage - 1) / kPage + 1;
    untouched += std::max<int64_t>(0, bytes - rows * row_pages * kPage);
  }
  return untouched;
}

}  // namespace

int64_t compressed_weight_delta(const ir::Graph& graph, const std::string& weights) {
  if (weights != "f16" && weights != "int8") return 0;
  int64_t bytes = 0;
  for (const auto& n : graph.nodes) {
    if (n.op_type != "Conv" && n.op_type != "MatMul" && n.op_type != "Gemm") continue;
    if (n.inputs.size() < 2) continue;
    auto w = graph.constants.find(n.inputs[1]);
    if (w == graph.constants.end() || w->second.element_type() != ElementType::f32 ||
        w->second.rank() < 2)
      continue;
    bytes += static_cast<int64_t>(w->second.byte_size());
  }
  return weights == "f16" ? -bytes / 2 : -bytes / 4 * 3;
}

std::map<std::string, Shape> effective_input_shapes(const ir::Graph& graph,
                                                    const std::map<std::string, Shape>& given) {
  std::map<std::string, Shape> shapes;
  for (const auto& p : graph.inputs) {
    if (graph.constants.count(p.name)) continue;  // an initializer with a default value
    Shape dims;
    for (const auto& d : p.shape) dims.push_back(d.is_static() ? d.value : -1);
    shapes[p.name] = dims;
  }
  for (const auto& [name, dims] : given) {
    SINTER_CHECK(shapes.count(name), invalid_argument,
                 "input shape given for '{}', which is not an input of the model", name);
    shapes[name] = dims;
  }
  return shapes;
}

MemoryEstimate plan_memory(const ir::Graph& graph, int64_t weight_bytes,
                           const std::map<std::string, Shape>& input_shapes) {
  MemoryEstimate m;
  const ir::ShapeInference shapes = ir::infer_shapes(graph, input_shapes);
  m.weight_bytes = weight_bytes - untouched_table_bytes(graph, shapes);
  for (const auto& p : graph.inputs) {
    auto it = shapes.values.find(p.name);
    const int64_t bytes = it == shapes.values.end() ? -1 : it->second.byte_size();
    if (bytes >= 0 && !graph.constants.count(p.name)) {
      m.input_bytes += bytes;
    } else if (bytes < 0 && m.unsized_values++ == 0) {
      m.first_unsized = p.name;
    }
  }
  const ir::ActivationEstimate a = ir::estimate_activations(graph, shapes);
  m.activation_bytes = a.peak_bytes;
  if (a.unsized_values > 0 && m.unsized_values == 0) m.first_unsized = a.first_unsized;
  m.unsized_values += a.unsized_values;
  return m;
}

MemoryBudget budget_for(const DeviceInfo& device, const Config& config) {
  MemoryBudget b;
  b.swap_free_bytes = host_memory().swap_free_bytes;
  const int64_t limit = config.memory_limit_bytes();
  if (limit > 0) {
    b.bytes = limit;
    b.limited_by = "memory_limit from " + config.setting("memory_limit").source;
  } else {
    b.bytes = device.memory_available_bytes;
    b.limited_by = "available memory of " + device.name;
  }
  return b;
}

void preflight(int64_t need, const std::string& breakdown, const MemoryBudget& budget,
               const std::string& what) {
  if (budget.bytes <= 0) return;  // nothing known to compare with
  if (need > budget.bytes) {
    raise(ErrorCategory::out_of_memory,
          "{} needs about {} ({}) but {} is {}; nothing was allocated. Free memory, raise the "
          "limit (--memory-limit / SINTER_MEMORY_LIMIT), or use a smaller model or input size",
          what, mib(need), breakdown, budget.limited_by, mib(budget.bytes));
  }
  if (need > budget.bytes * 95 / 100 && budget.swap_free_bytes > 0) {
    log().warn("{} needs about {} of the {} left ({}): the system may start swapping", what,
               mib(need), mib(budget.bytes), budget.limited_by);
  }
}

}  // namespace sinter::runtime
