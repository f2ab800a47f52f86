// ONNX protobuf -> sinter IR. The only code in sinter that includes ONNX headers.
//
//   ir::Graph g = onnx_frontend::import_model(read_file("m.onnx"), "/models", "m.onnx");
//
// Malformed input raises sinter::Error (invalid_model / io_error) naming the file and, where it
// applies, the node or tensor.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "ir/graph.hpp"
#include "sinter/tensor.hpp"

namespace sinter::onnx_frontend {

// `base_dir` is where external data files are looked up; `origin` names the model in errors.
// `external_files`, when given, receives the external data files read, relative to `base_dir`.
ir::Graph import_model(std::string_view bytes, const std::string& base_dir,
                       const std::string& origin, std::set<std::string>* external_files = nullptr);

// A serialized TensorProto (the .pb files of the ONNX test suite).
Tensor parse_tensor(const std::string& bytes, const std::string& origin);

// A serialized TensorProto, SequenceProto or OptionalProto, as `kind` says.
Value parse_value(const std::string& bytes, PortInfo::Kind kind, const std::string& origin);

}  // namespace sinter::onnx_frontend
