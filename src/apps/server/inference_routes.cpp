// The Open Inference Protocol (KServe v2, REST): health, model metadata and readiness, and
// inference with JSON tensors, for every plain model in the models folder and each pipeline's
// sub-models. Models are named by the registry's list only: a name never becomes a path.
#include <cstring>

#include "apps/server/server.hpp"

namespace sinter_server {

using nlohmann::json;
using sinter::ElementType;

namespace {

struct Datatype {
  const char* name;
  ElementType type;
};
const Datatype kDatatypes[] = {{"BOOL", ElementType::boolean}, {"UINT8", ElementType::u8},
                               {"INT8", ElementType::i8},      {"INT16", ElementType::i16},
                               {"INT32", ElementType::i32},    {"INT64", ElementType::i64},
                               {"FP32", ElementType::f32},     {"FP64", ElementType::f64}};

const char* datatype_name(ElementType t) {
  for (const auto& d : kDatatypes)
    if (d.type == t) return d.name;
  return t == ElementType::f16 ? "FP16" : t == ElementType::bf16 ? "BF16" : "BYTES";
}

json port_metadata(const sinter::PortInfo& port) {
  json shape = json::array();
  if (port.has_shape)
    for (const auto& d : port.shape) shape.push_back(d.is_static() ? d.value : -1);
  return {{"name", port.name}, {"datatype", datatype_name(port.element_type)}, {"shape", shape}};
}

// Nested JSON arrays flattened in row-major order.
void flatten(const json& j, std::vector<const json*>& out) {
  if (j.is_array())
    for (const json& v : j) flatten(v, out);
  else
    out.push_back(&j);
}

// Calls f with a zero of the C++ type of `type` when the JSON protocol carries it (BOOL to
// FP64); false otherwise. One dispatch for reading inputs and writing outputs.
template <typename F>
bool with_json_type(ElementType type, F&& f) {
  switch (type) {
    case ElementType::boolean:
      f(bool{});
      return true;
    case ElementType::u8:
      f(uint8_t{});
      return true;
    case ElementType::i8:
      f(int8_t{});
      return true;
    case ElementType::i16:
      f(int16_t{});
      return true;
    case ElementType::i32:
      f(int32_t{});
      return true;
    case ElementType::i64:
      f(int64_t{});
      return true;
    case ElementType::f32:
      f(float{});
      return true;
    case ElementType::f64:
      f(double{});
      return true;
    default:
      return false;
  }
}

template <typename T>
void fill(sinter::Tensor& t, const std::vector<const json*>& values, const std::string& name) {
  T* data = t.data_as<T>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const json& v = *values[i];
    if (!(v.is_number() || v.is_boolean()))
      throw RequestError{
          400, "input '" + name + "': element " + std::to_string(i) + " is not a number", "inputs"};
    data[i] = v.is_boolean() ? static_cast<T>(v.get<bool>()) : v.get<T>();
  }
}

sinter::Tensor read_input(const json& in, const sinter::PortInfo& port) {
  const std::string name = port.name;
  if (!in.contains("shape") || !in["shape"].is_array())
    throw RequestError{400, "input '" + name + "' has no shape", "inputs"};
  sinter::Shape shape;
  for (const json& d : in["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      throw RequestError{400, "input '" + name + "': shape entries must be integers >= 0",
                         "inputs"};
    shape.push_back(d.get<int64_t>());
  }
  const std::string datatype = in.value("datatype", "");
  const Datatype* dt = nullptr;
  for (const auto& d : kDatatypes)
    if (datatype == d.name) dt = &d;
  if (!dt)
    throw RequestError{
        400,
        "input '" + name + "': datatype '" + datatype +
            "' is not supported (BOOL, UINT8, INT8, INT16, INT32, INT64, FP32, FP64)",
        "inputs"};
  if (dt->type != port.element_type)
    throw RequestError{
        400,
        "input '" + name + "' must be " + datatype_name(port.element_type) + ", got " + datatype,
        "inputs"};
  if (!in.contains("data")) throw RequestError{400, "input '" + name + "' has no data", "inputs"};
  std::vector<const json*> values;
  flatten(in["data"], values);
  if (static_cast<int64_t>(values.size()) != sinter::element_count(shape))
    throw RequestError{400,
                       "input '" + name + "': " + std::to_string(values.size()) +
                           " values for shape of " + std::to_string(sinter::element_count(shape)),
                       "inputs"};
  sinter::Tensor t(dt->type, shape);
  // The datatype table holds only types with_json_type carries.
  with_json_type(dt->type, [&](auto zero) { fill<decltype(zero)>(t, values, name); });
  return t;
}

template <typename T>
json values_of(const sinter::Tensor& t) {
  const T* data = t.data_as<T>();
  return json(std::vector<T>(data, data + t.element_count()));
}

json write_output(const std::string& name, const sinter::Tensor& t) {
  json data;
  if (!with_json_type(t.element_type(), [&](auto zero) { data = values_of<decltype(zero)>(t); }))
    throw RequestError{500,
                       "output '" + name + "' is " + sinter::to_string(t.element_type()) +
                           ", which the JSON protocol here does not carry",
                       ""};
  return {{"name", name},
          {"datatype", datatype_name(t.element_type())},
          {"shape", t.shape()},
          {"data", data}};
}

std::shared_ptr<ServedModel> find_model(ServerContext& ctx, const std::string& name) {
  std::shared_ptr<ServedModel> m = ctx.registry->served_model(name);
  if (!m) throw RequestError{404, "no model named '" + name + "'", "model"};
  return m;
}

}  // namespace

void add_inference_routes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"live", true}});
  });
  http.Get("/v2/health/ready", [&ctx](const httplib::Request&, httplib::Response& res) {
    const bool ready = ctx.loaded && !ctx.stopping;
    send_json(res, ready ? 200 : 503, {{"ready", ready}});
  });
  http.Get("/v2", [&ctx](const httplib::Request&, httplib::Response& res) {
    json models = json::array();
    for (const auto& e : ctx.registry->inference_models()) models.push_back(e.name);
    send_json(res, 200,
              {{"name", "sinter"},
               {"version", SINTER_VERSION},
               {"extensions", json::array()},
               {"models", models}});
  });
  http.Get(R"(/v2/models/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1].str();
    const std::shared_ptr<ServedModel> m = find_model(ctx, name);
    json inputs = json::array(), outputs = json::array();
    for (const auto& p : m->model.inputs()) inputs.push_back(port_metadata(p));
    for (const auto& p : m->model.outputs()) outputs.push_back(port_metadata(p));
    send_json(res, 200,
              {{"name", name},
               {"versions", {"1"}},
               {"platform", "sinter"},
               {"inputs", inputs},
               {"outputs", outputs}});
  });
  http.Get(R"(/v2/models/([^/]+)/ready)",
           [&ctx](const httplib::Request& req, httplib::Response& res) {
             const std::string name = req.matches[1].str();
             find_model(ctx, name);
             send_json(res, ctx.stopping ? 503 : 200, {{"name", name}, {"ready", !ctx.stopping}});
           });
  http.Post(R"(/v2/models/([^/]+)/infer)", [&ctx](const httplib::Request& req,
                                                  httplib::Response& res) {
    const std::string name = req.matches[1].str();
    const std::shared_ptr<ServedModel> m = find_model(ctx, name);
    const json j = parse_json_object(req);
    if (!j.contains("inputs") || !j["inputs"].is_array())
      throw RequestError{400, "inputs must be a list of tensors", "inputs"};
    std::map<std::string, sinter::Tensor> inputs;
    for (const json& in : j["inputs"]) {
      if (!in.is_object() || !in.contains("name") || !in["name"].is_string())
        throw RequestError{400, "each input needs a name", "inputs"};
      const std::string input = in["name"].get<std::string>();
      const sinter::PortInfo* port = nullptr;
      for (const auto& p : m->model.inputs())
        if (p.name == input) port = &p;
      if (!port) {
        std::string known;
        for (const auto& p : m->model.inputs()) known += (known.empty() ? "" : ", ") + p.name;
        throw RequestError{
            400, "model '" + name + "' has no input '" + input + "' (its inputs: " + known + ")",
            "inputs"};
      }
      inputs[input] = read_input(in, *port);
    }
    for (const auto& p : m->model.inputs())
      if (!inputs.count(p.name))
        throw RequestError{400, "input '" + p.name + "' is missing", "inputs"};
    std::vector<std::string> wanted;
    if (j.contains("outputs") && j["outputs"].is_array())
      for (const json& o : j["outputs"])
        if (o.is_object() && o.contains("name") && o["name"].is_string())
          wanted.push_back(o["name"].get<std::string>());
    json outputs = json::array();
    {
      std::lock_guard<std::mutex> lock(m->mutex);
      std::map<std::string, sinter::Shape> shapes;
      std::string key;
      for (const auto& [n, t] : inputs) {
        shapes[n] = t.shape();
        key += n + ":" + sinter::to_string(t.shape()) + ";";
      }
      auto it = m->compiled.find(key);
      if (it == m->compiled.end())
        it = m->compiled
                 .emplace(key, ctx.core->compile_model(m->model, ctx.options.devices.unet_device,
                                                       shapes))
                 .first;
      sinter::InferRequest request = it->second.create_infer_request();
      for (auto& [n, t] : inputs) request.set_input(n, std::move(t));
      request.infer();
      for (const auto& p : it->second.outputs()) {
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), p.name) == wanted.end())
          continue;
        const sinter::Value& v = request.get_output(p.name);
        if (!v.is_tensor()) continue;
        outputs.push_back(write_output(p.name, v.tensor()));
      }
    }
    json body = {{"model_name", name}, {"model_version", "1"}, {"outputs", outputs}};
    if (j.contains("id")) body["id"] = j["id"];
    send_json(res, 200, body);
  });
}

}  // namespace sinter_server
