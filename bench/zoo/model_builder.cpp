#include "model_builder.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace zoo {

uint64_t Random::next_u64() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

float Random::uniform(float lo, float hi) {
  // 24 random bits give every float in [0, 1) the same spacing.
  const float unit = static_cast<float>(next_u64() >> 40) / 16777216.0f;
  return lo + (hi - lo) * unit;
}

ModelBuilder::ModelBuilder(std::string graph_name, uint64_t seed, int opset) : rng_(seed) {
  model_.set_ir_version(8);
  model_.set_producer_name("sinter-zoo");
  auto* op = model_.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  model_.mutable_graph()->set_name(std::move(graph_name));
}

std::string ModelBuilder::fresh(const std::string& hint) {
  return hint + "_" + std::to_string(counter_++);
}

std::string ModelBuilder::input(const std::string& name, int elem_type,
                                const std::vector<Dim>& dims) {
  auto* in = model_.mutable_graph()->add_input();
  in->set_name(name);
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (const Dim& d : dims) {
    auto* dim = shape->add_dim();
    if (const auto* v = std::get_if<int64_t>(&d))
      dim->set_dim_value(*v);
    else
      dim->set_dim_param(std::get<std::string>(d));
  }
  return name;
}

void ModelBuilder::output(const std::string& value, const std::string& name) {
  // Outputs get a readable name through an Identity, so model code can name values freely.
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type("Identity");
  n->set_name(fresh("output"));
  n->add_input(value);
  n->add_output(name);
  model_.mutable_graph()->add_output()->set_name(name);
}

std::string ModelBuilder::add_initializer(const std::string& hint, const std::vector<int64_t>& dims,
                                          const std::vector<float>& values) {
  auto* t = model_.mutable_graph()->add_initializer();
  const std::string name = fresh(hint);
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(values.data(), values.size() * sizeof(float));
  parameters_ += static_cast<int64_t>(values.size());
  return name;
}

std::string ModelBuilder::weight(const std::string& hint, const std::vector<int64_t>& dims,
                                 float scale) {
  return uniform(hint, dims, -scale, scale);
}

std::string ModelBuilder::fan_in_weight(const std::string& hint, const std::vector<int64_t>& dims,
                                        int64_t fan_in) {
  // Uniform[-a, a] has variance a^2/3; a = sqrt(6 / fan_in) gives He's 2 / fan_in.
  return weight(hint, dims, std::sqrt(6.0f / static_cast<float>(fan_in)));
}

std::string ModelBuilder::uniform(const std::string& hint, const std::vector<int64_t>& dims,
                                  float lo, float hi) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = rng_.uniform(lo, hi);
  return add_initializer(hint, dims, values);
}

std::string ModelBuilder::floats(const std::string& hint, const std::vector<int64_t>& dims,
                                 const std::vector<float>& values) {
  return add_initializer(hint, dims, values);
}

std::string ModelBuilder::scalar(const std::string& hint, float value) {
  return add_initializer(hint, {}, {value});
}

std::string ModelBuilder::int_scalar(const std::string& hint, int64_t value) {
  auto* t = model_.mutable_graph()->add_initializer();
  const std::string name = fresh(hint);
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_int64_data(value);
  return name;
}

std::string ModelBuilder::integers(const std::string& hint, int elem_type,
                                   const std::vector<int64_t>& dims,
                                   const std::vector<int64_t>& values) {
  auto* t = model_.mutable_graph()->add_initializer();
  const std::string name = fresh(hint);
  t->set_name(name);
  t->set_data_type(elem_type);
  for (int64_t d : dims) t->add_dims(d);
  std::string raw;
  for (int64_t v : values) {
    if (elem_type == onnx::TensorProto::INT32) {
      const auto i = static_cast<int32_t>(v);
      raw.append(reinterpret_cast<const char*>(&i), sizeof i);
    } else {
      raw.push_back(static_cast<char>(static_cast<uint8_t>(v)));  // INT8/UINT8: the low byte
    }
  }
  t->set_raw_data(raw);
  parameters_ += static_cast<int64_t>(values.size());
  return name;
}

std::string ModelBuilder::ints(const std::string& hint, const std::vector<int64_t>& values) {
  auto* t = model_.mutable_graph()->add_initializer();
  const std::string name = fresh(hint);
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
  return name;
}

static void set_attr(onnx::AttributeProto* a, const Attr& attr) {
  a->set_name(attr.name);
  std::visit(
      [a](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          a->set_type(onnx::AttributeProto::INT);
          a->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          a->set_type(onnx::AttributeProto::FLOAT);
          a->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          a->set_type(onnx::AttributeProto::STRING);
          a->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a->set_type(onnx::AttributeProto::INTS);
          for (int64_t x : v) a->add_ints(x);
        } else {
          a->set_type(onnx::AttributeProto::FLOATS);
          for (float x : v) a->add_floats(x);
        }
      },
      attr.value);
}

std::vector<std::string> ModelBuilder::node_n(const std::string& op,
                                              const std::vector<std::string>& inputs, int outputs,
                                              const std::vector<Attr>& attrs) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op);
  const std::string name = fresh(op);
  n->set_name(name);
  for (const auto& in : inputs) n->add_input(in);
  std::vector<std::string> names;
  for (int i = 0; i < outputs; ++i) {
    names.push_back(name + ":" + std::to_string(i));
    n->add_output(names.back());
  }
  for (const Attr& attr : attrs) set_attr(n->add_attribute(), attr);
  return names;
}

std::string ModelBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                               const std::vector<Attr>& attrs) {
  return node_n(op, inputs, 1, attrs)[0];
}

void ModelBuilder::save(const std::string& path, bool external_data) {
  namespace fs = std::filesystem;
  onnx::ModelProto model = model_;
  if (external_data) {
    const std::string data_name = fs::path(path).filename().string() + ".data";
    std::ofstream data(fs::path(path).parent_path() / data_name, std::ios::binary);
    int64_t offset = 0;
    for (auto& t : *model.mutable_graph()->mutable_initializer()) {
      if (t.raw_data().size() <= 1024) continue;
      const std::string& raw = t.raw_data();
      data.write(raw.data(), static_cast<std::streamsize>(raw.size()));
      t.set_data_location(onnx::TensorProto::EXTERNAL);
      auto add = [&t](const std::string& key, const std::string& value) {
        auto* e = t.add_external_data();
        e->set_key(key);
        e->set_value(value);
      };
      add("location", data_name);
      add("offset", std::to_string(offset));
      add("length", std::to_string(raw.size()));
      offset += static_cast<int64_t>(raw.size());
      t.clear_raw_data();
    }
    if (!data) throw std::runtime_error("cannot write external data next to " + path);
  }
  std::ofstream out(path, std::ios::binary);
  if (!out || !model.SerializeToOstream(&out)) throw std::runtime_error("cannot write " + path);
}

}  // namespace zoo
