#include "devices/auto/auto_device.hpp"

#include <future>
#include <mutex>

#include "base/errors.hpp"
#include "base/logging.hpp"

namespace sinter::autoselect {

namespace {

using ExecutablePtr = std::unique_ptr<device::Executable>;

class AutoExecutable final : public device::Executable {
 public:
  AutoExecutable(std::shared_ptr<const ir::Graph> graph, device::CompileOptions options,
                 std::shared_ptr<const device::Device> chosen,
                 std::shared_ptr<const device::Device> cpu, bool runtime_fallback)
      : graph_(std::move(graph)),
        options_(std::move(options)),
        chosen_(std::move(chosen)),
        cpu_(std::move(cpu)),
        chosen_name_(chosen_->info().name),
        runtime_fallback_(runtime_fallback) {}

  // Compiles the chosen device now (warm cache: no CPU phase).
  void compile_chosen_now() { primary_ = chosen_->compile(graph_, options_); }

  // The CPU serves until the chosen device's compile, started here, finishes.
  void compile_chosen_in_background(std::function<void()> on_ready) {
    cpu_exe_ = cpu_->compile(graph_, options_);
    pending_ = std::async(std::launch::async, [this, on_ready = std::move(on_ready)] {
      ExecutablePtr exe = chosen_->compile(graph_, options_);
      if (on_ready) on_ready();
      return exe;
    });
  }

  ~AutoExecutable() override {
    if (pending_.valid()) pending_.wait();  // the compile thread uses this object
  }

  std::string compile_notes() const override {
    if (pending_.valid())
      return "AUTO: the CPU serves while " + chosen_name_ + " compiles in the background";
    return primary_ ? primary_->compile_notes() : "";
  }

  std::string precision() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return primary_ ? primary_->precision() : cpu_exe_ ? cpu_exe_->precision() : "f32";
  }

  // The CPU phase's and the chosen device's copies both exist while the first serves.
  int64_t packed_weight_bytes() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return (primary_ ? primary_->packed_weight_bytes() : 0) +
           (cpu_exe_ ? cpu_exe_->packed_weight_bytes() : 0);
  }

  void release_working_memory() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (primary_) primary_->release_working_memory();
    if (cpu_exe_) cpu_exe_->release_working_memory();
  }

  void run(std::map<std::string, Value>& values, device::RunProfile* profile) const override {
    const device::Executable* primary = ready_primary();
    if (!primary) {
      run_on_cpu(values, profile);
      return;
    }
    try {
      primary->run(values, profile);
      if (profile) profile->devices = {chosen_name_};
    } catch (const Error& e) {
      // Bad inputs fail on every device; anything else may run on the CPU.
      if (!runtime_fallback_ || !cpu_ || e.category() == ErrorCategory::invalid_argument) throw;
      std::call_once(warned_, [&] {
        log().warn(
            "AUTO: an inference failed on {} ({}); running it on the CPU instead "
            "(--no-runtime-fallback turns this off)",
            chosen_name_, e.what());
      });
      run_on_cpu(values, profile);
    }
  }

 private:
  // The chosen device's executable once its compile is done; nullptr while it compiles (or when
  // it failed, which is reported once and leaves the CPU serving).
  const device::Executable* ready_primary() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_.valid() &&
        pending_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      try {
        primary_ = pending_.get();
        log().info("AUTO: {} finished compiling; inferences switch to it", chosen_name_);
      } catch (const std::exception& e) {
        log().warn("AUTO: compiling for {} failed ({}); the CPU keeps serving", chosen_name_,
                   e.what());
      }
    }
    return primary_.get();
  }

  void run_on_cpu(std::map<std::string, Value>& values, device::RunProfile* profile) const {
    SINTER_CHECK(cpu_, internal, "AUTO: no CPU to run on");
    const device::Executable* cpu = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!cpu_exe_) cpu_exe_ = cpu_->compile(graph_, options_);  // first runtime fallback
      cpu = cpu_exe_.get();
    }
    cpu->run(values, profile);
    if (profile) profile->devices = {cpu_->info().name};
  }

  std::shared_ptr<const ir::Graph> graph_;
  device::CompileOptions options_;
  std::shared_ptr<const device::Device> chosen_, cpu_;
  std::string chosen_name_;
  bool runtime_fallback_;
  mutable std::mutex mutex_;
  mutable std::future<ExecutablePtr> pending_;
  mutable ExecutablePtr primary_, cpu_exe_;
  mutable std::once_flag warned_;
};

class AutoDevice final : public device::Device {
 public:
  AutoDevice(std::shared_ptr<const device::Device> chosen,
             std::shared_ptr<const device::Device> cpu, AutoOptions options)
      : chosen_(std::move(chosen)), cpu_(std::move(cpu)), options_(std::move(options)) {}

  // The chosen device's, so that its cache entries are the same as a direct compile's.
  DeviceInfo info() const override { return chosen_->info(); }
  std::vector<device::NodeSupport> query(const ir::Graph& graph) const override {
    return chosen_->query(graph);
  }

  std::unique_ptr<device::Executable> compile(
      std::shared_ptr<const ir::Graph> graph,
      const device::CompileOptions& options) const override {
    auto exe =
        std::make_unique<AutoExecutable>(graph, options, chosen_, cpu_, options_.runtime_fallback);
    if (options_.startup_fallback && cpu_) {
      try {
        exe->compile_chosen_in_background(options_.on_ready);
        return exe;
      } catch (const Error& e) {
        // The CPU compile failed before anything started (e.g. a precision it lacks): no CPU
        // phase, and `exe` is still untouched.
        log().info("AUTO: no CPU phase ({}); compiling for {} now", e.what(), chosen_->info().name);
      }
    }
    exe->compile_chosen_now();
    return exe;
  }

 private:
  std::shared_ptr<const device::Device> chosen_, cpu_;
  AutoOptions options_;
};

}  // namespace

std::unique_ptr<device::Device> make_auto_device(std::shared_ptr<const device::Device> chosen,
                                                 std::shared_ptr<const device::Device> cpu,
                                                 AutoOptions options) {
  return std::make_unique<AutoDevice>(std::move(chosen), std::move(cpu), std::move(options));
}

}  // namespace sinter::autoselect
