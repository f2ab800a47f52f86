// libFuzzer target: arbitrary bytes as a model file through Core::read_model (which tells ONNX
// from .sinter by content), IR validation and CPU compile. Any sinter::Error is an acceptable
// outcome; a crash, hang, leak or sanitizer report is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "sinter/sinter.hpp"

namespace {
std::string scratch_file;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("SINTER_CACHE", "off", 1);  // each input is a new model: caching would only fill a disk
  scratch_file = "/tmp/sinter-fuzz-" + std::to_string(::getpid()) + ".model";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(scratch_file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    sinter::Core core;
    sinter::Model model = core.read_model(scratch_file);
    (void)model.op_histogram();
    (void)core.compile_model(model, "CPU");
  } catch (const sinter::Error&) {
  }
  return 0;
}
