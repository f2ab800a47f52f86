// The GPU device (PoCL as GPU.0; ctest sets SINTER_OPENCL_CPU=1) under concurrent use: several
// threads run two compiled models at once, and every result must equal the CPU device's result
// for the same input (within float tolerance): requests on one device take turns, they never
// corrupt each other's kernel arguments or buffers.
#include <gtest/gtest.h>

#include <thread>

#include "base/file_io.hpp"
#include "frontend/onnx/onnx_import.hpp"
#include "sinter/sinter.hpp"

using namespace sinter;

namespace {

const std::string kData = "/usr/share/libonnx-testdata/data/pytorch-converted/";

struct Case {
  CompiledModel gpu;
  std::string input_name;
  Tensor input, cpu_output;
  std::string output_name;
};

Case load(Core& core, const std::string& name) {
  Case c;
  const Model model = core.read_model(kData + name + "/model.onnx");
  c.input_name = model.inputs().at(0).name;
  c.output_name = model.outputs().at(0).name;
  const std::string pb = kData + name + "/test_data_set_0/input_0.pb";
  c.input = onnx_frontend::parse_tensor(read_file(pb), pb);
  InferRequest cpu = core.compile_model(model, "CPU").create_infer_request();
  cpu.set_input(c.input_name, c.input);
  cpu.infer();
  c.cpu_output = cpu.get_output(c.output_name).tensor();
  c.gpu = core.compile_model(model, "GPU.0");
  return c;
}

}  // namespace

TEST(GpuThreads, ConcurrentRequestsOnTwoModelsMatchTheCpu) {
  Core core;
  Case cases[] = {load(core, "test_Conv2d_groups"), load(core, "test_Conv2d_depthwise_padded")};
  std::vector<std::string> failures[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Case& c = cases[t % 2];
      for (int i = 0; i < 5; ++i) {
        InferRequest r = c.gpu.create_infer_request();
        r.set_input(c.input_name, c.input);
        r.infer();
        const Tolerance tol{1e-4, 1e-3};
        const auto cmp = compare_tensors(r.get_output(c.output_name).tensor(), c.cpu_output, tol);
        if (!cmp.ok()) failures[t].push_back(cmp.summary(c.output_name, tol));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f.front();
}
