// The text of an Einsum equation, split once for every user (shape inference, CPU and GPU
// kernels): "bij, bjk -> bik" has operands {"bij", "bjk"} and output "bik".
#pragma once

#include <string>
#include <vector>

namespace sinter::ir {

struct EinsumEquation {
  std::vector<std::string> operands;  // one term per input, spaces removed, "..." kept
  // After "->"; without one, ONNX's implicit output: "..." when any operand has an ellipsis,
  // then the letters that occur once in all operands, in alphabetical order.
  std::string output;
  bool explicit_output = false;
};

EinsumEquation parse_einsum(const std::string& equation);

}  // namespace sinter::ir
