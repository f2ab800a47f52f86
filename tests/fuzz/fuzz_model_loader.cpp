// libFuzzer target: arbitrary bytes through the ONNX loader, IR validation and CPU compile.
// Any sinter::Error is an acceptable outcome; a crash, hang, leak or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sinter/sinter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sinter::Core core;
    sinter::Model model = core.read_model_from_memory(data, size, "/nonexistent-fuzz-dir");
    (void)model.op_histogram();
    (void)core.compile_model(model, "CPU");
  } catch (const sinter::Error&) {
  }
  return 0;
}
