// AUTO's execution over mock devices: the CPU serves while the chosen device compiles, then the
// chosen device takes over; a failing chosen device hands the inference to the CPU unless
// runtime fallback is off. Results are checked against the formula of the model.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "devices/auto/auto_device.hpp"
#include "mock_device.hpp"

using namespace sinter;

namespace {

// y = Relu(x)
std::shared_ptr<const ir::Graph> relu_graph() {
  auto g = std::make_shared<ir::Graph>();
  g->name = "relu";
  g->opsets[""] = 17;
  g->inputs.push_back({"x", PortInfo::Kind::tensor, ElementType::f32, true, {{4, ""}}});
  g->outputs.push_back({"y", PortInfo::Kind::tensor, ElementType::f32, false, {}});
  g->add_node("Relu", {"x"}, {"y"}).name = "relu";
  return g;
}

// Runs the executable once; returns the devices that served and checks y = max(x, 0).
std::vector<std::string> run_once(const device::Executable& exe) {
  Tensor x(ElementType::f32, {4});
  const float in[4] = {-1.5f, 0.f, 2.f, -3.f};
  for (int i = 0; i < 4; ++i) x.data_as<float>()[i] = in[i];
  std::map<std::string, Value> io = {{"x", x}};
  device::RunProfile profile;
  exe.run(io, &profile);
  const Tensor& y = io.at("y").tensor();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y.data_as<float>()[i], std::max(in[i], 0.f));
  return profile.devices;
}

// AUTO over a mock chosen device "MOCKGPU" that behaves as told, with a mock "CPU" behind it.
std::unique_ptr<device::Executable> compile_auto(mocks::MockBehaviour chosen_behaviour,
                                                 autoselect::AutoOptions options = {}) {
  auto chosen = std::make_shared<mocks::MockDevice>("MOCKGPU", std::move(chosen_behaviour));
  auto cpu = std::make_shared<mocks::MockDevice>("CPU");
  return autoselect::make_auto_device(chosen, cpu, std::move(options))->compile(relu_graph(), {});
}

}  // namespace

TEST(AutoDevice, CpuServesUntilTheChosenDeviceHasCompiled) {
  std::promise<void> release;
  bool ready_called = false;
  autoselect::AutoOptions options;
  options.startup_fallback = true;
  options.on_ready = [&] { ready_called = true; };
  const auto exe =
      compile_auto(mocks::MockBehaviour{{}, release.get_future().share(), false}, options);
  // The chosen device's compile is held back: the CPU must serve.
  EXPECT_EQ(run_once(*exe), (std::vector<std::string>{"CPU"}));
  EXPECT_EQ(run_once(*exe), (std::vector<std::string>{"CPU"}));
  release.set_value();
  std::vector<std::string> served;
  for (int tries = 0; tries < 1000 && served != std::vector<std::string>{"MOCKGPU"}; ++tries) {
    served = run_once(*exe);
    if (served != std::vector<std::string>{"MOCKGPU"})
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(served, (std::vector<std::string>{"MOCKGPU"}));
  EXPECT_TRUE(ready_called);
}

TEST(AutoDevice, WithoutStartupFallbackTheChosenDeviceServesFirst) {
  const auto exe = compile_auto({});
  EXPECT_EQ(run_once(*exe), (std::vector<std::string>{"MOCKGPU"}));
}

TEST(AutoDevice, AFailedInferenceRunsAgainOnTheCpu) {
  const auto exe = compile_auto(mocks::MockBehaviour{{}, {}, /*runs_fail=*/true});
  EXPECT_EQ(run_once(*exe), (std::vector<std::string>{"CPU"}));
}

TEST(AutoDevice, NoRuntimeFallbackLetsTheErrorThrough) {
  autoselect::AutoOptions options;
  options.runtime_fallback = false;
  const auto exe = compile_auto(mocks::MockBehaviour{{}, {}, /*runs_fail=*/true}, options);
  try {
    run_once(*exe);
    FAIL() << "expected the device's error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::device_error);
    EXPECT_NE(std::string(e.what()).find("MOCKGPU"), std::string::npos);
  }
}
