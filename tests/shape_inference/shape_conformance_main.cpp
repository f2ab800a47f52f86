// Static shape inference checked against the ONNX backend test data: for every case, shapes are
// inferred from the test inputs' shapes alone (nothing runs), and each output whose shape was
// inferred must have the rank, dims and element type of the expected output stored in the suite.
// Outputs left unknown are counted, not failed: the summary reports how much was inferred.
//
//   sinter-shape-conformance --data /usr/share/libonnx-testdata/data [--verbose]
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "../conformance/numbered_files.hpp"
#include "base/file_io.hpp"
#include "frontend/onnx/onnx_import.hpp"
#include "ir/shape_inference.hpp"

namespace fs = std::filesystem;
using namespace sinter;

namespace {

struct Tally {
  int cases = 0, outputs = 0, full = 0, partial = 0, unknown = 0, failures = 0;
  std::map<std::string, int> without_rule;  // op type -> models using it
};

// Compares what was inferred for one output with the expected tensor; returns a failure message.
std::string check_output(const ir::ValueInfo& inferred, const Tensor& expected, Tally& tally) {
  ++tally.outputs;
  if (!inferred.rank_known) {
    ++tally.unknown;
  } else if (inferred.shape_known()) {
    ++tally.full;
  } else {
    ++tally.partial;
  }
  // The suite stores bfloat16 outputs as UINT16 (the same quirk expected_failures.txt lists).
  const bool bf16_as_u16 =
      inferred.type == ElementType::bf16 && expected.element_type() == ElementType::u16;
  if (inferred.type != ElementType::undefined && inferred.type != expected.element_type() &&
      !bf16_as_u16)
    return std::string("type ") + to_string(inferred.type) + ", expected " +
           to_string(expected.element_type());
  if (!inferred.rank_known) return "";
  const Shape& want = expected.shape();
  bool ok = inferred.dims.size() == want.size();
  for (std::size_t i = 0; ok && i < want.size(); ++i)
    ok = inferred.dims[i] < 0 || inferred.dims[i] == want[i];
  return ok ? "" : "shape " + to_string(Shape(inferred.dims)) + ", expected " + to_string(want);
}

void run_case(const fs::path& dir, Tally& tally, bool verbose) {
  const auto sets = sinter::testing::numbered_files(dir, "test_data_set_");
  if (sets.empty()) return;
  ir::Graph graph;
  try {
    graph = onnx_frontend::import_model(read_file((dir / "model.onnx").string()), dir.string(),
                                        "model.onnx");
    ir::validate(graph);
  } catch (const std::exception&) {
    return;  // models the frontend rejects are the conformance runner's business
  }
  ++tally.cases;
  const fs::path set = sets.front();
  std::map<std::string, Shape> shapes;
  const auto inputs = sinter::testing::numbered_files(set, "input_");
  for (std::size_t i = 0; i < inputs.size() && i < graph.inputs.size(); ++i) {
    if (graph.inputs[i].kind != PortInfo::Kind::tensor) continue;
    shapes[graph.inputs[i].name] =
        onnx_frontend::parse_tensor(read_file(inputs[i].string()), inputs[i].string()).shape();
  }
  const ir::ShapeInference inferred = ir::infer_shapes(graph, shapes);
  for (const auto& op : inferred.ops_without_rule) ++tally.without_rule[op];
  const auto outputs = sinter::testing::numbered_files(set, "output_");
  for (std::size_t i = 0; i < outputs.size() && i < graph.outputs.size(); ++i) {
    if (graph.outputs[i].kind != PortInfo::Kind::tensor) continue;
    const Tensor expected =
        onnx_frontend::parse_tensor(read_file(outputs[i].string()), outputs[i].string());
    const std::string failure =
        check_output(inferred.values.at(graph.outputs[i].name), expected, tally);
    if (!failure.empty()) {
      ++tally.failures;
      std::cout << "FAIL " << dir.filename().string() << " output '" << graph.outputs[i].name
                << "': inferred " << failure << "\n";
    } else if (verbose) {
      std::cout << "ok   " << dir.filename().string() << "\n";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = "/usr/share/libonnx-testdata/data";
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) {
      data = argv[++i];
    } else if (a == "--verbose") {
      verbose = true;
    } else {
      std::cerr << "usage: sinter-shape-conformance [--data DIR] [--verbose]\n";
      return 2;
    }
  }
  Tally tally;
  std::vector<fs::path> cases;
  for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    const fs::path root = fs::path(data) / suite;
    if (!fs::is_directory(root)) continue;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory()) cases.push_back(e.path());
  }
  if (cases.empty()) {
    std::cerr << "no test cases under " << data << "\n";
    return 2;
  }
  std::sort(cases.begin(), cases.end());
  for (const auto& c : cases) run_case(c, tally, verbose);
  std::cout << tally.cases << " models, " << tally.outputs << " tensor outputs: " << tally.full
            << " fully inferred, " << tally.partial << " partly, " << tally.unknown << " unknown; "
            << tally.failures << " wrong\n";
  if (verbose) {
    std::cout << "ops without a shape rule (models using them):";
    for (const auto& [op, n] : tally.without_rule) std::cout << " " << op << "(" << n << ")";
    std::cout << "\n";
  }
  return tally.failures == 0 && tally.full > 0 ? 0 : 1;
}
