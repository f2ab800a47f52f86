// Runs the ONNX backend test suite (Debian's libonnx-testdata) on a sinter device.
//
//   sinter-conformance --data /usr/share/libonnx-testdata/data
//       --expected-failures tests/conformance/expected_failures.txt [--filter relu] [--verbose]
//
// Each case runs in a forked child with a time limit, so a crash or hang is a failure of that
// case, not of the runner. Outcomes:
//   passed   - the case ran and every output matched (rtol 1e-3, atol 1e-7, as ONNX's runner;
//              with --precision f16: rtol 4e-3, atol 2e-3 * max|expected|, see below)
//   failed   - an unlisted case failed, or a listed case passed (the list must be kept honest)
//   skipped  - a listed case failed as expected (its reason is in the expected-failures file)
// Exit status 0 only when nothing failed.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/file_io.hpp"
#include "base/npy.hpp"
#include "frontend/onnx/onnx_import.hpp"
#include "numbered_files.hpp"
#include "sinter/sinter.hpp"

namespace fs = std::filesystem;
using namespace sinter;

namespace {

struct Options {
  std::string data_dir = "/usr/share/libonnx-testdata/data";
  std::vector<std::string> expected_files;  // --expected-failures, may be repeated
  std::string filter;
  std::string device = "CPU";
  std::vector<std::string> suites = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  bool verbose = false;
  bool via_sinter = false;
  // Devices that implement part of ONNX (the GPU): a case whose compile is refused with
  // unsupported_op is counted as "not claimed" instead of failed; everything the device
  // accepts must pass.
  bool unclaimed_ok = false;  // convert each model to .sinter and run the converted file
  int timeout_s = 60;
  std::string write_failures;  // write the failing cases with their errors here
  std::string precision = "f32";
};

// The suite's tolerance, or for half storage (every input and intermediate value rounded to 11
// significant bits, relative error 2^-11 each) a bound of a few such roundings relative to each
// element, plus an absolute part that scales with the output (cancellation near zero).
struct SuiteTolerance {
  double atol = 1e-7, rtol = 1e-3, atol_of_max = 0;
};
SuiteTolerance g_tolerance;

// Empty string when equal within the suite's tolerance, else a description of the mismatch.
std::string compare_tensors(const Tensor& expected, const Tensor& actual, const std::string& name) {
  sinter::Tolerance tol{g_tolerance.atol, g_tolerance.rtol};
  if (g_tolerance.atol_of_max > 0)
    tol.atol +=
        g_tolerance.atol_of_max * sinter::compare_tensors(actual, expected, tol).max_abs_expected;
  const sinter::TensorComparison r = sinter::compare_tensors(actual, expected, tol);
  if (!r.layout_error.empty()) return name + ": " + r.layout_error;
  if (r.ok()) return "";
  std::ostringstream msg;
  msg << name << ": " << r.mismatches << " of " << r.elements << " elements differ; first at "
      << r.first_mismatch;
  if (expected.element_type() != ElementType::string) {
    msg << ": got " << sinter::element_as_double(actual, r.first_mismatch) << ", expected "
        << sinter::element_as_double(expected, r.first_mismatch);
  }
  return msg.str();
}

std::string compare_values(const Value& expected, const Value& actual, const std::string& name) {
  if (expected.kind() != actual.kind()) return name + ": value kind differs";
  if (expected.is_none()) return "";
  if (expected.is_tensor()) return compare_tensors(expected.tensor(), actual.tensor(), name);
  const auto& e = expected.sequence_items();
  const auto& a = actual.sequence_items();
  if (e.size() != a.size()) {
    return name + ": sequence has " + std::to_string(a.size()) + " items, expected " +
           std::to_string(e.size());
  }
  for (std::size_t i = 0; i < e.size(); ++i) {
    auto m = compare_tensors(e[i], a[i], name + "[" + std::to_string(i) + "]");
    if (!m.empty()) return m;
  }
  return "";
}

// Prefix of run_case's message when compile_model refused the model as unsupported.
const std::string kUnclaimed = "UNCLAIMED ";

// Runs one case; returns "" on success or the failure message.
// With `via_sinter`, the model is first converted to a .sinter file and read back from it, so
// that every operator and attribute of the suite also exercises the converted format.
std::string run_case(const fs::path& dir, const std::string& device, bool via_sinter) {
  try {
    Core core;
    Model model = core.read_model((dir / "model.onnx").string());
    if (via_sinter) {
      const fs::path converted = fs::temp_directory_path() /
                                 ("sinter_conformance_" + std::to_string(::getpid()) + ".sinter");
      model.save(converted.string());
      model = core.read_model(converted.string());
      fs::remove(converted);  // the mapping stays valid after the name is gone
    }
    CompiledModel compiled;
    try {
      compiled = core.compile_model(model, device);
    } catch (const Error& e) {
      // The device's query() turned the model down: it does not claim these ops.
      if (e.category() == ErrorCategory::unsupported_op) return kUnclaimed + e.what();
      throw;
    }
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) {
        sets.push_back(e.path());
      }
    }
    std::sort(sets.begin(), sets.end());
    if (sets.empty()) return "no test_data_set_* folders";
    for (const auto& set : sets) {
      InferRequest request = compiled.create_infer_request();
      auto inputs = sinter::testing::numbered_files(set, "input_");
      if (inputs.size() > model.inputs().size()) {
        return "test data has " + std::to_string(inputs.size()) + " inputs, model declares " +
               std::to_string(model.inputs().size());
      }
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& port = model.inputs()[i];
        request.set_input(port.name, onnx_frontend::parse_value(read_file(inputs[i].string()),
                                                                port.kind, inputs[i].string()));
      }
      request.infer();
      auto outputs = sinter::testing::numbered_files(set, "output_");
      for (std::size_t i = 0; i < outputs.size() && i < model.outputs().size(); ++i) {
        const auto& port = model.outputs()[i];
        Value expected = onnx_frontend::parse_value(read_file(outputs[i].string()), port.kind,
                                                    outputs[i].string());
        auto m = compare_values(expected, request.get_output(port.name), port.name);
        if (!m.empty()) return set.filename().string() + ": " + m;
      }
    }
    return "";
  } catch (const Error& e) {
    return std::string("[") + to_string(e.category()) + "] " + e.what();
  } catch (const std::exception& e) {
    return std::string("[exception] ") + e.what();
  }
}

// Forks, runs the case in the child with a time limit, returns its message.
std::string run_isolated(const fs::path& dir, const Options& opt) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(opt.timeout_s));
    std::string msg = run_case(dir, opt.device, opt.via_sinter);
    if (msg.size() > 2000) msg.resize(2000);
    (void)!write(fds[1], msg.data(), msg.size());
    close(fds[1]);
    _exit(msg.empty() ? 0 : 1);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t r;
  while ((r = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<std::size_t>(r));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return sig == SIGALRM ? "timed out after " + std::to_string(opt.timeout_s) + " s"
                          : std::string("crashed with signal ") + strsignal(sig);
  }
  if (WEXITSTATUS(status) != 0 && msg.empty()) return "failed without a message";
  return msg;
}

std::map<std::string, std::string> read_expected(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot open expected-failures file '" << path << "'\n";
    std::exit(2);
  }
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string name, reason;
    ss >> name;
    std::getline(ss, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    if (reason.empty()) {
      std::cerr << path << ":" << lineno << ": '" << name << "' has no reason\n";
      std::exit(2);
    }
    out[name] = reason;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data")
      opt.data_dir = next();
    else if (a == "--expected-failures")
      opt.expected_files.push_back(next());
    else if (a == "--filter")
      opt.filter = next();
    else if (a == "--device")
      opt.device = next();
    else if (a == "--timeout")
      opt.timeout_s = std::stoi(next());
    else if (a == "--write-failures")
      opt.write_failures = next();
    else if (a == "--precision")
      opt.precision = next();
    else if (a == "--via-sinter")
      opt.via_sinter = true;
    else if (a == "--unclaimed-ok")
      opt.unclaimed_ok = true;
    else if (a == "--verbose" || a == "-v")
      opt.verbose = true;
    else {
      std::cerr << "usage: sinter-conformance [--data DIR] [--expected-failures FILE] "
                   "[--filter TEXT] [--device NAME] [--precision f32|f16] [--timeout S] "
                   "[--write-failures FILE] [--via-sinter] [--unclaimed-ok] [--verbose]\n"
                   "--expected-failures may be given more than once.\n";
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (!fs::is_directory(opt.data_dir)) {
    std::cerr << "ONNX test data not found at '" << opt.data_dir
              << "' (install Debian's libonnx-testdata: make bootstrap)\n";
    return 2;
  }
  std::map<std::string, std::string> expected;
  for (const auto& file : opt.expected_files) expected.merge(read_expected(file));
  if (opt.precision == "f16") {
    g_tolerance = {0, 4e-3, 2e-3};
  } else if (opt.precision != "f32") {
    std::cerr << "--precision must be f32 or f16\n";
    return 2;
  }
  // Every case's Core reads its settings from the environment.
  setenv("SINTER_PRECISION", opt.precision.c_str(), 1);
  std::set<std::string> seen;
  int passed = 0, failed = 0, skipped = 0, unclaimed = 0;
  std::vector<std::string> per_suite;  // "node: 880 of 932 cases pass"
  std::ofstream failures_out;
  if (!opt.write_failures.empty()) failures_out.open(opt.write_failures);
  const auto start = std::chrono::steady_clock::now();
  for (const auto& suite : opt.suites) {
    const fs::path suite_dir = fs::path(opt.data_dir) / suite;
    if (!fs::is_directory(suite_dir)) continue;
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(suite_dir)) {
      if (fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
    }
    std::sort(cases.begin(), cases.end());
    int suite_total = 0, suite_passed = 0;
    for (const auto& c : cases) {
      const std::string name = c.filename().string();
      if (!opt.filter.empty() && name.find(opt.filter) == std::string::npos) continue;
      seen.insert(name);
      const std::string msg = run_isolated(c, opt);
      const bool listed = expected.count(name) > 0;
      if (opt.unclaimed_ok && msg.rfind(kUnclaimed, 0) == 0) {
        ++unclaimed;
        if (opt.verbose) std::cout << "UNCLAIMED " << suite << "/" << name << ": " << msg << "\n";
        continue;
      }
      ++suite_total;
      if (msg.empty()) ++suite_passed;
      if (msg.empty() && !listed) {
        ++passed;
        if (opt.verbose) std::cout << "PASS " << suite << "/" << name << "\n";
      } else if (msg.empty() && listed) {
        ++failed;
        std::cout << "UNEXPECTED PASS " << suite << "/" << name
                  << " (remove it from the expected-failures list)\n";
      } else if (listed) {
        ++skipped;
        if (opt.verbose) std::cout << "XFAIL " << suite << "/" << name << ": " << msg << "\n";
      } else {
        ++failed;
        std::cout << "FAIL " << suite << "/" << name << ": " << msg << "\n";
      }
      if (!msg.empty() && failures_out)
        failures_out << name << " " << msg.substr(0, msg.find('\n')) << "\n";
    }
    per_suite.push_back(suite + ": " + std::to_string(suite_passed) + " of " +
                        std::to_string(suite_total) + " cases pass");
  }
  if (opt.filter.empty()) {
    for (const auto& [name, _] : expected) {
      if (!seen.count(name)) {
        std::cout << "STALE " << name
                  << " is listed as an expected failure but no such case exists\n";
        ++failed;
      }
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "(skipped = listed expected failures that failed as listed; each line of the list "
               "gives its reason)  ["
            << static_cast<int>(secs) << " s]\n";
  for (const auto& line : per_suite) std::cout << line << "\n";
  std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped";
  if (opt.unclaimed_ok) std::cout << ", " << unclaimed << " not claimed by " << opt.device;
  std::cout << "\n";
  return failed ? 1 : 0;
}
