// Devices with made-up behaviour for the virtual-device tests: the CPU's kernels do the work, the
// mock decides what it claims (a list of ops), whether its compile waits for the test to let it
// finish, and whether its runs fail.
#pragma once

#include <future>
#include <memory>
#include <set>
#include <string>

#include "devices/cpu/cpu_device.hpp"

namespace sinter::mocks {

struct MockBehaviour {
  std::set<std::string> ops;                  // empty: every op
  std::shared_future<void> compile_released;  // valid: compile() waits for it
  bool runs_fail = false;                     // every run throws device_error
};

class MockDevice final : public device::Device {
 public:
  MockDevice(std::string name, MockBehaviour behaviour = {})
      : name_(std::move(name)), how_(std::move(behaviour)), cpu_(cpu::make_cpu_device()) {}

  DeviceInfo info() const override {
    DeviceInfo d = cpu_->info();
    d.name = name_;
    return d;
  }

  std::vector<device::NodeSupport> query(const ir::Graph& graph) const override {
    std::vector<device::NodeSupport> out;
    for (const auto& n : graph.nodes) {
      device::NodeSupport s;
      s.supported = how_.ops.empty() || how_.ops.count(n.op_type) > 0;
      s.implementation = name_ + " kernel";
      if (!s.supported) s.reason = "not on the list";
      out.push_back(s);
    }
    return out;
  }

  std::unique_ptr<device::Executable> compile(
      std::shared_ptr<const ir::Graph> graph,
      const device::CompileOptions& options) const override {
    for (const auto& s : query(*graph))
      if (!s.supported) throw Error(ErrorCategory::unsupported_op, name_ + " refuses a node");
    if (how_.compile_released.valid()) how_.compile_released.wait();
    auto exe = cpu_->compile(std::move(graph), options);
    if (!how_.runs_fail) return exe;
    return std::make_unique<Failing>(name_);
  }

 private:
  struct Failing final : device::Executable {
    explicit Failing(std::string n) : name(std::move(n)) {}
    void run(std::map<std::string, Value>&, device::RunProfile*) const override {
      throw Error(ErrorCategory::device_error, name + ": the device was lost");
    }
    std::string name;
  };

  std::string name_;
  MockBehaviour how_;
  std::unique_ptr<device::Device> cpu_;
};

}  // namespace sinter::mocks
