#include "frontend/onnx/onnx_import.hpp"

#include <onnx/onnx-data_pb.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "base/errors.hpp"
#include "base/half.hpp"
#include "base/mapped_file.hpp"

namespace sinter::onnx_frontend {

namespace {

namespace fs = std::filesystem;

// External data files, each mapped once per import.
using MappedFiles = std::map<std::string, std::shared_ptr<MappedFile>>;

struct Context {
  std::string base_dir;
  std::string origin;
  std::map<std::string, int64_t> opsets;
  std::set<std::string>* external_files = nullptr;  // collects the external data files read
  std::shared_ptr<MappedFiles> mapped = std::make_shared<MappedFiles>();
};

// A tensor's bytes inside a mapped external data file.
struct ExternalBytes {
  std::shared_ptr<MappedFile> file;
  const char* data = nullptr;
};

ElementType element_type_of(int onnx_type, const std::string& where) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
      return ElementType::f32;
    case onnx::TensorProto::UINT8:
      return ElementType::u8;
    case onnx::TensorProto::INT8:
      return ElementType::i8;
    case onnx::TensorProto::UINT16:
      return ElementType::u16;
    case onnx::TensorProto::INT16:
      return ElementType::i16;
    case onnx::TensorProto::INT32:
      return ElementType::i32;
    case onnx::TensorProto::INT64:
      return ElementType::i64;
    case onnx::TensorProto::STRING:
      return ElementType::string;
    case onnx::TensorProto::BOOL:
      return ElementType::boolean;
    case onnx::TensorProto::FLOAT16:
      return ElementType::f16;
    case onnx::TensorProto::DOUBLE:
      return ElementType::f64;
    case onnx::TensorProto::UINT32:
      return ElementType::u32;
    case onnx::TensorProto::UINT64:
      return ElementType::u64;
    case onnx::TensorProto::BFLOAT16:
      return ElementType::bf16;
    default:
      break;
  }
  raise(ErrorCategory::unsupported_op, "{}: element type {} ({}) is not supported", where,
        onnx_type,
        onnx::TensorProto::DataType_IsValid(onnx_type)
            ? onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(onnx_type))
            : "invalid");
}

ExternalBytes read_external(const onnx::TensorProto& proto, const Context& ctx, std::size_t want) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : proto.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoll(kv.value());
      else if (kv.key() == "length")
        length = std::stoll(kv.value());
    } catch (const std::exception&) {
      raise(ErrorCategory::invalid_model, "{}: tensor '{}' has a malformed external_data '{}'",
            ctx.origin, proto.name(), kv.key());
    }
  }
  SINTER_CHECK(!location.empty(), invalid_model,
               "{}: tensor '{}' stores external data but names no location", ctx.origin,
               proto.name());
  const fs::path rel(location);
  SINTER_CHECK(!rel.is_absolute() && rel.lexically_normal().string().rfind("..", 0) != 0,
               invalid_model,
               "{}: tensor '{}' points at external data '{}' outside the model's folder",
               ctx.origin, proto.name(), location);
  const fs::path path = fs::path(ctx.base_dir.empty() ? "." : ctx.base_dir) / rel;
  if (ctx.external_files) ctx.external_files->insert(rel.lexically_normal().string());
  // Mapped, not read: the tensors over the mapping are the file's pages in the page cache, so
  // converting SD 1.5's 3.3 GB UNet no longer holds a heap copy of every weight (the first use
  // of `--weights f16` peaked at 3.5 GiB of RSS with one).
  std::shared_ptr<MappedFile>& file = (*ctx.mapped)[path.string()];
  if (!file) {
    try {
      file = MappedFile::open(path.string());
    } catch (const Error& e) {
      ctx.mapped->erase(path.string());
      raise(ErrorCategory::io_error,
            "{}: external data file '{}' for tensor '{}' cannot be opened or mapped ({})",
            ctx.origin, path.string(), proto.name(), e.what());
    }
  }
  if (length < 0) length = static_cast<int64_t>(want);
  SINTER_CHECK(static_cast<std::size_t>(length) == want, invalid_model,
               "{}: tensor '{}' needs {} bytes but its external data length is {}", ctx.origin,
               proto.name(), want, length);
  const auto file_size = static_cast<int64_t>(file->size());
  SINTER_CHECK(offset >= 0 && offset <= file_size && length <= file_size - offset, invalid_model,
               "{}: tensor '{}' reads bytes {}..{} of '{}', which has only {} bytes", ctx.origin,
               proto.name(), offset, offset + length, path.string(), file_size);
  return {file, file->data() + offset};
}

template <typename Dst, typename Field>
void copy_field(Tensor& t, const Field& field, const std::string& where) {
  SINTER_CHECK(static_cast<int64_t>(field.size()) == t.element_count(), invalid_model,
               "{}: tensor has {} values but its shape {} needs {}", where, field.size(),
               to_string(t.shape()), t.element_count());
  Dst* out = t.data_as<Dst>();
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<Dst>(field.Get(i));
}

// How many values a tensor of this type holds in its typed field (no raw or external data).
int64_t typed_value_count(const onnx::TensorProto& proto, ElementType type) {
  switch (type) {
    case ElementType::string:
      return proto.string_data_size();
    case ElementType::f32:
      return proto.float_data_size();
    case ElementType::f64:
      return proto.double_data_size();
    case ElementType::i64:
      return proto.int64_data_size();
    case ElementType::u64:
    case ElementType::u32:
      return proto.uint64_data_size();
    default:
      return proto.int32_data_size();
  }
}

Tensor tensor_from_proto(const onnx::TensorProto& proto, const Context& ctx) {
  const std::string where = fmt::format("{}: tensor '{}'", ctx.origin, proto.name());
  SINTER_CHECK(!proto.has_segment(), unsupported_op, "{} is segmented", where);
  const ElementType type = element_type_of(proto.data_type(), where);
  Shape shape(proto.dims().begin(), proto.dims().end());
  for (int64_t d : shape) SINTER_CHECK(d >= 0, invalid_model, "{} has a negative dimension", where);
  // Guard against absurd shapes before allocating.
  int64_t count = 1;
  for (int64_t d : shape) {
    SINTER_CHECK(d == 0 || count <= (int64_t{1} << 40) / d, invalid_model,
                 "{} has an impossible shape {}", where, to_string(shape));
    count *= d;
  }
  // The data must be there before the tensor is allocated: a few bytes of file that declare a
  // terabyte-sized shape are an invalid model, not an allocation attempt.
  const bool external = proto.data_location() == onnx::TensorProto::EXTERNAL;
  if (type != ElementType::string && (external || proto.has_raw_data())) {
    const std::size_t bytes = static_cast<std::size_t>(count) * element_size(type);
    if (external) {
      const ExternalBytes mapped = read_external(proto, ctx, bytes);
      // Kernels read tensors as 64-byte aligned (as every allocation is); data at other offsets
      // is copied.
      if (bytes > 0 && reinterpret_cast<std::uintptr_t>(mapped.data) % 64 == 0)
        return Tensor::adopt(type, shape, mapped.file, const_cast<char*>(mapped.data));
      Tensor t(type, shape);
      if (bytes > 0) std::memcpy(t.data(), mapped.data, bytes);
      return t;
    }
    const std::string& raw = proto.raw_data();
    SINTER_CHECK(raw.size() == bytes, invalid_model,
                 "{}: raw data has {} bytes but shape {} of {} needs {}", where, raw.size(),
                 to_string(shape), to_string(type), bytes);
    Tensor t(type, shape);
    if (!raw.empty()) std::memcpy(t.data(), raw.data(), raw.size());
    return t;
  }
  const int64_t values = typed_value_count(proto, type);
  SINTER_CHECK(values == count, invalid_model, "{}: tensor has {} values but its shape {} needs {}",
               where, values, to_string(shape), count);
  Tensor t(type, shape);
  if (type == ElementType::string) {
    copy_field<std::string>(t, proto.string_data(), where);
    return t;
  }
  switch (type) {
    case ElementType::f32:
      copy_field<float>(t, proto.float_data(), where);
      break;
    case ElementType::f64:
      copy_field<double>(t, proto.double_data(), where);
      break;
    case ElementType::i64:
      copy_field<int64_t>(t, proto.int64_data(), where);
      break;
    case ElementType::u64:
      copy_field<uint64_t>(t, proto.uint64_data(), where);
      break;
    case ElementType::u32:
      copy_field<uint32_t>(t, proto.uint64_data(), where);
      break;
    case ElementType::i32:
      copy_field<int32_t>(t, proto.int32_data(), where);
      break;
    case ElementType::i16:
      copy_field<int16_t>(t, proto.int32_data(), where);
      break;
    case ElementType::u16:
    case ElementType::f16:
    case ElementType::bf16:
      copy_field<uint16_t>(t, proto.int32_data(), where);
      break;
    case ElementType::i8:
      copy_field<int8_t>(t, proto.int32_data(), where);
      break;
    case ElementType::u8:
    case ElementType::boolean:
      copy_field<uint8_t>(t, proto.int32_data(), where);
      break;
    default:
      raise(ErrorCategory::internal, "{}: unhandled element type", where);
  }
  return t;
}

void fill_port(PortInfo& port, const onnx::TypeProto& type, const std::string& where) {
  switch (type.value_case()) {
    case onnx::TypeProto::kTensorType: {
      const auto& tt = type.tensor_type();
      port.kind = PortInfo::Kind::tensor;
      port.element_type =
          tt.elem_type() ? element_type_of(tt.elem_type(), where) : ElementType::undefined;
      port.has_shape = tt.has_shape();
      for (const auto& d : tt.shape().dim()) {
        Dimension dim;
        if (d.has_dim_value())
          dim.value = d.dim_value();
        else if (d.has_dim_param())
          dim.symbol = d.dim_param();
        port.shape.push_back(dim);
      }
      break;
    }
    case onnx::TypeProto::kSequenceType: {
      port.kind = PortInfo::Kind::sequence;
      PortInfo elem;
      if (type.sequence_type().has_elem_type())
        fill_port(elem, type.sequence_type().elem_type(), where);
      port.element_type = elem.element_type;
      break;
    }
    case onnx::TypeProto::kOptionalType: {
      PortInfo elem;
      if (type.optional_type().has_elem_type())
        fill_port(elem, type.optional_type().elem_type(), where);
      port.kind = elem.kind == PortInfo::Kind::sequence ? PortInfo::Kind::optional_sequence
                                                        : PortInfo::Kind::optional_tensor;
      port.element_type = elem.element_type;
      port.has_shape = elem.has_shape;
      port.shape = elem.shape;
      break;
    }
    default:
      port.kind = PortInfo::Kind::unknown;
      break;
  }
}

PortInfo port_from_proto(const onnx::ValueInfoProto& vi, const Context& ctx) {
  PortInfo port;
  port.name = vi.name();
  if (vi.has_type())
    fill_port(port, vi.type(), fmt::format("{}: value '{}'", ctx.origin, vi.name()));
  else
    port.kind = PortInfo::Kind::unknown;
  return port;
}

std::shared_ptr<ir::Graph> graph_from_proto(const onnx::GraphProto& proto, const Context& ctx);

ir::Attribute attribute_from_proto(const onnx::AttributeProto& a, const Context& ctx,
                                   const std::string& where) {
  ir::Attribute out;
  using K = ir::Attribute::Kind;
  switch (a.type()) {
    case onnx::AttributeProto::FLOAT:
      out.kind = K::f;
      out.f = a.f();
      break;
    case onnx::AttributeProto::INT:
      out.kind = K::i;
      out.i = a.i();
      break;
    case onnx::AttributeProto::STRING:
      out.kind = K::s;
      out.s = a.s();
      break;
    case onnx::AttributeProto::TENSOR:
      out.kind = K::t;
      out.t = tensor_from_proto(a.t(), ctx);
      break;
    case onnx::AttributeProto::GRAPH:
      out.kind = K::g;
      out.g = graph_from_proto(a.g(), ctx);
      break;
    case onnx::AttributeProto::FLOATS:
      out.kind = K::floats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::INTS:
      out.kind = K::ints;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::STRINGS:
      out.kind = K::strings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSORS:
      out.kind = K::tensors;
      for (const auto& t : a.tensors()) out.tensors.push_back(tensor_from_proto(t, ctx));
      break;
    case onnx::AttributeProto::GRAPHS:
      out.kind = K::graphs;
      for (const auto& g : a.graphs()) out.graphs.push_back(graph_from_proto(g, ctx));
      break;
    case onnx::AttributeProto::TYPE_PROTO:
      out.kind = K::type_proto;
      fill_port(out.type, a.tp(), where);
      break;
    case onnx::AttributeProto::SPARSE_TENSOR:
    case onnx::AttributeProto::SPARSE_TENSORS:
      raise(ErrorCategory::unsupported_op, "{}: sparse tensor attribute '{}' is not supported",
            where, a.name());
    default:
      raise(ErrorCategory::invalid_model, "{}: attribute '{}' has an unknown type {}", where,
            a.name(), static_cast<int>(a.type()));
  }
  return out;
}

std::shared_ptr<ir::Graph> graph_from_proto(const onnx::GraphProto& proto, const Context& ctx) {
  auto g = std::make_shared<ir::Graph>();
  g->name = proto.name();
  g->opsets = ctx.opsets;
  for (const auto& init : proto.initializer()) {
    g->constants[init.name()] = tensor_from_proto(init, ctx);
  }
  SINTER_CHECK(proto.sparse_initializer_size() == 0, unsupported_op,
               "{}: sparse initializers are not supported", ctx.origin);
  for (const auto& in : proto.input()) {
    // Old models list initializers among the inputs too; those are constants with a default.
    if (g->constants.count(in.name())) continue;
    g->inputs.push_back(port_from_proto(in, ctx));
  }
  for (const auto& out : proto.output()) g->outputs.push_back(port_from_proto(out, ctx));
  for (int i = 0; i < proto.node_size(); ++i) {
    const auto& np = proto.node(i);
    ir::Node n;
    n.name = np.name();
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    const std::string where = fmt::format("{}: {}", ctx.origin, n.label());
    SINTER_CHECK(!n.op_type.empty(), invalid_model, "{}: node #{} has no op_type", ctx.origin, i);
    for (const auto& a : np.attribute()) {
      SINTER_CHECK(a.ref_attr_name().empty(), unsupported_op,
                   "{}: attribute references (functions) are not supported", where);
      n.attributes[a.name()] = attribute_from_proto(a, ctx, where);
    }
    g->nodes.push_back(std::move(n));
  }
  return g;
}

}  // namespace

ir::Graph import_model(std::string_view bytes, const std::string& base_dir,
                       const std::string& origin, std::set<std::string>* external_files) {
  onnx::ModelProto model;
  SINTER_CHECK(!bytes.empty(), invalid_model, "{}: the file is empty", origin);
  SINTER_CHECK(bytes.size() < (std::size_t{1} << 31), invalid_model,
               "{}: {} bytes; ONNX protobuf files are limited to 2 GiB (use external data)", origin,
               bytes.size());
  SINTER_CHECK(model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())), invalid_model,
               "{}: not a valid ONNX model (protobuf parse failed; truncated or not ONNX?)",
               origin);
  SINTER_CHECK(model.has_graph(), invalid_model, "{}: the model has no graph", origin);
  Context ctx{base_dir, origin, {}, external_files};
  for (const auto& op : model.opset_import()) {
    ctx.opsets[op.domain() == "ai.onnx" ? "" : op.domain()] = op.version();
  }
  // IR version 3 and older have no opset_import: they mean opset 1.
  if (ctx.opsets.empty()) ctx.opsets[""] = 1;
  SINTER_CHECK(model.functions_size() == 0, unsupported_op,
               "{}: model-local functions are not supported", origin);
  ir::Graph graph = *graph_from_proto(model.graph(), ctx);
  ir::validate(graph);
  return graph;
}

Tensor parse_tensor(const std::string& bytes, const std::string& origin) {
  onnx::TensorProto proto;
  SINTER_CHECK(proto.ParseFromString(bytes), io_error, "{}: not a valid ONNX TensorProto", origin);
  return tensor_from_proto(proto, Context{"", origin, {}});
}

Value parse_value(const std::string& bytes, PortInfo::Kind kind, const std::string& origin) {
  const Context ctx{"", origin, {}};
  auto from_sequence = [&](const onnx::SequenceProto& seq) {
    std::vector<Tensor> items;
    for (const auto& t : seq.tensor_values()) items.push_back(tensor_from_proto(t, ctx));
    return Value::sequence(std::move(items));
  };
  switch (kind) {
    case PortInfo::Kind::sequence: {
      onnx::SequenceProto seq;
      SINTER_CHECK(seq.ParseFromString(bytes), io_error, "{}: not a valid SequenceProto", origin);
      return from_sequence(seq);
    }
    case PortInfo::Kind::optional_tensor:
    case PortInfo::Kind::optional_sequence: {
      onnx::OptionalProto opt;
      SINTER_CHECK(opt.ParseFromString(bytes), io_error, "{}: not a valid OptionalProto", origin);
      if (opt.has_tensor_value()) return Value(tensor_from_proto(opt.tensor_value(), ctx));
      if (opt.has_sequence_value()) return from_sequence(opt.sequence_value());
      return Value();
    }
    default:
      return Value(parse_tensor(bytes, origin));
  }
}

}  // namespace sinter::onnx_frontend
