#include "ir/sinter_format.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/byte_workers.hpp"
#include "base/content_hash.hpp"
#include "base/errors.hpp"
#include "base/file_io.hpp"
#include "base/half.hpp"
#include "base/mapped_file.hpp"

namespace sinter::ir {

namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'S', 'I', 'N', 'T', 'E', 'R', 'I', 'R'};
constexpr std::size_t kAlign = 64;
constexpr int64_t kCompressMinElements = 1024;

std::size_t round_up(std::size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

void put_u32(char* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
void put_u64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string hex64(uint64_t v) {
  return fmt::format("{:016x}", v);
}

// Printable ASCII strings stay readable in the header; anything else is stored as hex.
json encode_string(const std::string& s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (plain) return s;
  std::string hex;
  for (unsigned char c : s) hex += fmt::format("{:02x}", c);
  return json{{"hex", hex}};
}

std::string decode_string(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  const std::string hex = j.at("hex").get<std::string>();
  if (hex.size() % 2) throw std::runtime_error("odd-length hex string");
  std::string s;
  for (std::size_t i = 0; i < hex.size(); i += 2)
    s += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return s;
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- writing

struct Blob {
  const void* data;
  std::size_t bytes;
  std::string owned;  // compressed copies live here
};

class Writer {
 public:
  explicit Writer(const SinterWriteOptions& o) : options_(o) {}

  json graph(const Graph& g) {
    json j;
    j["name"] = encode_string(g.name);
    j["inputs"] = json::array();
    for (const auto& p : g.inputs) j["inputs"].push_back(port(p));
    j["outputs"] = json::array();
    for (const auto& p : g.outputs) j["outputs"].push_back(port(p));
    j["opsets"] = json::object();
    for (const auto& [domain, v] : g.opsets) j["opsets"][domain] = v;
    j["constants"] = json::array();
    for (const auto& [name, t] : g.constants)
      j["constants"].push_back({encode_string(name), tensor(t, name)});
    j["nodes"] = json::array();
    for (const auto& n : g.nodes) j["nodes"].push_back(node(n));
    return j;
  }

  json tensor_table() const { return table_; }
  std::vector<Blob>& blobs() { return blobs_; }
  std::size_t data_bytes() const { return data_bytes_; }
  SinterWriteStats stats;

 private:
  json port(const PortInfo& p) {
    json dims = json::array();
    for (const auto& d : p.shape) {
      if (d.is_static())
        dims.push_back(d.value);
      else
        dims.push_back(d.symbol.empty() ? json(nullptr) : encode_string(d.symbol));
    }
    return {{"name", encode_string(p.name)},
            {"kind", static_cast<int>(p.kind)},
            {"dtype", static_cast<int>(p.element_type)},
            {"has_shape", p.has_shape},
            {"shape", dims}};
  }

  json node(const Node& n) {
    json j = {{"name", encode_string(n.name)},
              {"op", encode_string(n.op_type)},
              {"domain", encode_string(n.domain)}};
    j["inputs"] = json::array();
    for (const auto& s : n.inputs) j["inputs"].push_back(encode_string(s));
    j["outputs"] = json::array();
    for (const auto& s : n.outputs) j["outputs"].push_back(encode_string(s));
    j["attributes"] = json::array();
    for (const auto& [name, a] : n.attributes)
      j["attributes"].push_back({encode_string(name), attribute(a, n.name + "." + name)});
    return j;
  }

  json attribute(const Attribute& a, const std::string& where) {
    using K = Attribute::Kind;
    json j = {{"kind", static_cast<int>(a.kind)}};
    switch (a.kind) {
      case K::none:
        break;
      case K::f:
        j["value"] = float_bits(a.f);
        break;
      case K::i:
        j["value"] = a.i;
        break;
      case K::s:
        j["value"] = encode_string(a.s);
        break;
      case K::t:
        j["value"] = tensor(a.t, where);
        break;
      case K::g:
        j["value"] = graph(*a.g);
        break;
      case K::floats:
        j["value"] = json::array();
        for (float f : a.floats) j["value"].push_back(float_bits(f));
        break;
      case K::ints:
        j["value"] = a.ints;
        break;
      case K::strings:
        j["value"] = json::array();
        for (const auto& s : a.strings) j["value"].push_back(encode_string(s));
        break;
      case K::tensors:
        j["value"] = json::array();
        for (const auto& t : a.tensors) j["value"].push_back(tensor(t, where));
        break;
      case K::graphs:
        j["value"] = json::array();
        for (const auto& g : a.graphs) j["value"].push_back(graph(*g));
        break;
      case K::type_proto:
        j["value"] = port(a.type);
        break;
    }
    return j;
  }

  // Adds a tensor to the table (once per distinct buffer) and returns its index.
  int64_t tensor(const Tensor& t, const std::string& name) {
    const void* key = t.data();
    if (key && t.element_type() != ElementType::string) {
      auto it = ids_.find(key);
      if (it != ids_.end() && table_[it->second]["shape"] == json(t.shape()) &&
          table_[it->second]["dtype"] == static_cast<int>(t.element_type()))
        return it->second;
    }
    json e = {{"name", encode_string(name)},
              {"dtype", static_cast<int>(t.element_type())},
              {"shape", t.shape()}};
    if (t.element_type() == ElementType::string) {
      e["strings"] = json::array();
      for (int64_t i = 0; i < t.element_count(); ++i)
        e["strings"].push_back(encode_string(t.data_as<std::string>()[i]));
    } else {
      Blob blob{t.data(), t.byte_size(), {}};
      if (options_.compress_f16 && t.element_type() == ElementType::f32 &&
          t.element_count() >= kCompressMinElements) {
        blob.owned.resize(static_cast<std::size_t>(t.element_count()) * 2);
        auto* dst = reinterpret_cast<uint16_t*>(blob.owned.data());
        for (int64_t i = 0; i < t.element_count(); ++i)
          dst[i] = float_to_half_bits(t.data_as<float>()[i]);
        blob.data = blob.owned.data();
        blob.bytes = blob.owned.size();
        e["stored_dtype"] = static_cast<int>(ElementType::f16);
        ++stats.compressed_tensors;
      }
      e["offset"] = data_bytes_;
      e["bytes"] = blob.bytes;
      e["hash"] = hex64(content_hash64(blob.data, blob.bytes));
      // A tensor over a mapped file (an ONNX model's external data) need not stay resident
      // between its hashing and its writing: converting would hold the whole model in RSS.
      MappedFile::release_pages(blob.data, blob.bytes);
      data_bytes_ = round_up(data_bytes_ + blob.bytes);
      blobs_.push_back(std::move(blob));
    }
    table_.push_back(e);
    const int64_t id = static_cast<int64_t>(table_.size()) - 1;
    if (key && t.element_type() != ElementType::string) ids_[key] = id;
    ++stats.tensors;
    return id;
  }

  const SinterWriteOptions& options_;
  json table_ = json::array();
  std::vector<Blob> blobs_;
  std::map<const void*, int64_t> ids_;
  std::size_t data_bytes_ = 0;
};

// ---- reading

class Reader {
 public:
  Reader(std::shared_ptr<MappedFile> file, const char* data, std::size_t data_bytes,
         const json& table)
      : file_(std::move(file)), data_(data), data_bytes_(data_bytes), table_(table) {
    tensors_.resize(table_.size());
    check_sums();
  }

  std::shared_ptr<Graph> graph(const json& j) {
    auto g = std::make_shared<Graph>();
    g->name = decode_string(j.at("name"));
    for (const auto& p : j.at("inputs")) g->inputs.push_back(port(p));
    for (const auto& p : j.at("outputs")) g->outputs.push_back(port(p));
    for (const auto& [domain, v] : j.at("opsets").items()) g->opsets[domain] = v.get<int64_t>();
    for (const auto& c : j.at("constants"))
      g->constants[decode_string(c.at(0))] = tensor(c.at(1).get<int64_t>());
    for (const auto& n : j.at("nodes")) g->nodes.push_back(node(n));
    return g;
  }

 private:
  PortInfo port(const json& j) {
    PortInfo p;
    p.name = decode_string(j.at("name"));
    const int kind = j.at("kind").get<int>();
    if (kind < 0 || kind > static_cast<int>(PortInfo::Kind::unknown))
      throw std::runtime_error("bad port kind");
    p.kind = static_cast<PortInfo::Kind>(kind);
    p.element_type = element_type(j.at("dtype").get<int>());
    p.has_shape = j.at("has_shape").get<bool>();
    for (const auto& d : j.at("shape")) {
      Dimension dim;
      if (d.is_number_integer())
        dim.value = d.get<int64_t>();
      else if (!d.is_null())
        dim.symbol = decode_string(d);
      p.shape.push_back(dim);
    }
    return p;
  }

  Node node(const json& j) {
    Node n;
    n.name = decode_string(j.at("name"));
    n.op_type = decode_string(j.at("op"));
    n.domain = decode_string(j.at("domain"));
    for (const auto& s : j.at("inputs")) n.inputs.push_back(decode_string(s));
    for (const auto& s : j.at("outputs")) n.outputs.push_back(decode_string(s));
    for (const auto& a : j.at("attributes"))
      n.attributes[decode_string(a.at(0))] = attribute(a.at(1));
    return n;
  }

  Attribute attribute(const json& j) {
    using K = Attribute::Kind;
    Attribute a;
    const int kind = j.at("kind").get<int>();
    if (kind < 0 || kind > static_cast<int>(K::type_proto))
      throw std::runtime_error("bad attribute kind");
    a.kind = static_cast<K>(kind);
    const json none;
    const json& v = a.kind == K::none ? none : j.at("value");
    switch (a.kind) {
      case K::none:
        break;
      case K::f:
        a.f = bits_to_float(v.get<uint32_t>());
        break;
      case K::i:
        a.i = v.get<int64_t>();
        break;
      case K::s:
        a.s = decode_string(v);
        break;
      case K::t:
        a.t = tensor(v.get<int64_t>());
        break;
      case K::g:
        a.g = graph(v);
        break;
      case K::floats:
        for (const auto& f : v) a.floats.push_back(bits_to_float(f.get<uint32_t>()));
        break;
      case K::ints:
        a.ints = v.get<std::vector<int64_t>>();
        break;
      case K::strings:
        for (const auto& s : v) a.strings.push_back(decode_string(s));
        break;
      case K::tensors:
        for (const auto& t : v) a.tensors.push_back(tensor(t.get<int64_t>()));
        break;
      case K::graphs:
        for (const auto& g : v) a.graphs.push_back(graph(g));
        break;
      case K::type_proto:
        a.type = port(v);
        break;
    }
    return a;
  }

  // Every tensor's checksum, computed on a few threads before the graph is decoded (reading
  // from the page cache, one thread hashed SD 1.5's 3.3 GiB UNet in 1.3 s, most of a cached
  // start). A tensor whose bounds are wrong is left to tensor(), which names the fault; one
  // whose checksum fails is recorded and reported there too.
  void check_sums() {
    struct Blob {
      std::size_t entry;
      const char* data;
      uint64_t bytes;
    };
    std::vector<Blob> blobs;
    uint64_t total = 0;
    for (std::size_t i = 0; i < table_.size(); ++i) {
      const json& e = table_[i];
      if (!e.is_object() || !e.contains("offset") || !e.contains("bytes") || !e.contains("hash"))
        continue;
      const json& offset = e["offset"];
      const json& bytes = e["bytes"];
      if (!offset.is_number_unsigned() || !bytes.is_number_unsigned()) continue;
      const uint64_t o = offset.get<uint64_t>(), b = bytes.get<uint64_t>();
      if (o > data_bytes_ || b > data_bytes_ - o) continue;
      blobs.push_back({i, data_ + o, b});
      total += b;
    }
    checked_.assign(table_.size(), Check::not_yet);
    const unsigned threads = byte_workers(total, uint64_t{16} << 20);
    run_workers(threads, [&](unsigned t) {
      for (std::size_t k = t; k < blobs.size(); k += threads) {
        const Blob& blob = blobs[k];
        const json& hash = table_[blob.entry]["hash"];
        const bool ok = hash.is_string() &&
                        hex64(content_hash64(blob.data, blob.bytes)) == hash.get<std::string>();
        checked_[blob.entry] = ok ? Check::passed : Check::failed;
        // Hashing faulted every page in; only what a kernel reads needs to be resident (a
        // kernel that packs weights copies them, a Gather of an embedding reads a few rows),
        // so the pages go back to the page cache until then.
        if (ok) MappedFile::release_pages(blob.data, blob.bytes);
      }
    });
  }

  static ElementType element_type(int v) {
    const bool known = v >= 0 && v <= static_cast<int>(ElementType::bf16) &&
                       (v == 0 || element_size(static_cast<ElementType>(v)) != 0);
    if (!known) throw std::runtime_error("unknown element type " + std::to_string(v));
    return static_cast<ElementType>(v);
  }

  Tensor tensor(int64_t id) {
    if (id < 0 || id >= static_cast<int64_t>(table_.size()))
      throw std::runtime_error("tensor index out of range");
    if (!tensors_[id].empty()) return tensors_[id];
    const json& e = table_[id];
    const std::string name = decode_string(e.at("name"));
    const ElementType type = element_type(e.at("dtype").get<int>());
    const Shape shape = e.at("shape").get<Shape>();
    int64_t count = 1;
    for (int64_t d : shape) {
      if (d < 0 || (d > 0 && count > (int64_t{1} << 40) / d))
        throw std::runtime_error("tensor '" + name + "' has an impossible shape");
      count *= d;
    }
    Tensor t;
    if (type == ElementType::string) {
      t = Tensor(type, shape);
      const auto& strings = e.at("strings");
      if (static_cast<int64_t>(strings.size()) != count)
        throw std::runtime_error("tensor '" + name + "' has the wrong number of strings");
      for (int64_t i = 0; i < count; ++i) t.data_as<std::string>()[i] = decode_string(strings[i]);
    } else {
      const ElementType stored =
          e.contains("stored_dtype") ? element_type(e["stored_dtype"].get<int>()) : type;
      const uint64_t offset = e.at("offset").get<uint64_t>(), bytes = e.at("bytes").get<uint64_t>();
      if (bytes != static_cast<uint64_t>(count) * element_size(stored) || offset % kAlign != 0 ||
          offset > data_bytes_ || bytes > data_bytes_ - offset)
        throw std::runtime_error("tensor '" + name + "' lies outside the data section");
      const char* p = data_ + offset;
      // check_sums() hashed it unless its entry was malformed in a way tensor() names first.
      if (checked_[id] == Check::not_yet)
        checked_[id] = hex64(content_hash64(p, bytes)) == e.at("hash").get<std::string>()
                           ? Check::passed
                           : Check::failed;
      if (checked_[id] == Check::failed)
        throw std::runtime_error("tensor '" + name + "' fails its checksum (the file is corrupt)");
      if (stored == type) {
        t = Tensor::adopt(type, shape, file_, const_cast<char*>(p));
      } else if (stored == ElementType::f16 && type == ElementType::f32) {
        t = Tensor(type, shape);
        const auto* src = reinterpret_cast<const uint16_t*>(p);
        for (int64_t i = 0; i < count; ++i) t.data_as<float>()[i] = half_bits_to_float(src[i]);
      } else {
        throw std::runtime_error("tensor '" + name + "': unsupported stored type");
      }
    }
    tensors_[id] = t;
    return t;
  }

  std::shared_ptr<MappedFile> file_;
  const char* data_;
  std::size_t data_bytes_;
  const json& table_;
  std::vector<Tensor> tensors_;
  enum class Check : uint8_t { not_yet, passed, failed };
  std::vector<Check> checked_;  // per tensor, written by check_sums()' threads, one entry each
};

}  // namespace

bool looks_like_sinter(const char* data, std::size_t size) {
  return size >= sizeof kMagic && std::memcmp(data, kMagic, sizeof kMagic) == 0;
}

SinterWriteStats write_sinter_file(const Graph& graph, const std::string& path,
                                   const SinterWriteOptions& options) {
  Writer w(options);
  json header;
  header["format"] = "sinter";
  header["version"] = kSinterFormatVersion;
  header["producer"] = options.producer;
  header["source"] = encode_string(options.source);
  header["graph"] = w.graph(graph);
  header["tensors"] = w.tensor_table();
  const std::string text = header.dump();
  const std::size_t data_offset = round_up(kSinterPrefixBytes + text.size());

  char prefix[kSinterPrefixBytes] = {};
  std::memcpy(prefix, kMagic, sizeof kMagic);
  put_u32(prefix + 8, kSinterFormatVersion);
  put_u32(prefix + 12, 0);
  put_u64(prefix + 16, text.size());
  put_u64(prefix + 24, w.data_bytes());
  put_u64(prefix + 32, content_hash64(text.data(), text.size()));
  put_u64(prefix + 40, 0);

  write_file_atomically(path, [&](std::ostream& out) {
    const std::string zeros(kAlign, '\0');
    out.write(prefix, kSinterPrefixBytes);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.write(zeros.data(),
              static_cast<std::streamsize>(data_offset - kSinterPrefixBytes - text.size()));
    std::size_t written = 0;
    for (const Blob& b : w.blobs()) {
      out.write(static_cast<const char*>(b.data), static_cast<std::streamsize>(b.bytes));
      MappedFile::release_pages(b.data, b.bytes);
      written += b.bytes;
      const std::size_t pad = round_up(written) - written;
      out.write(zeros.data(), static_cast<std::streamsize>(pad));
      written += pad;
    }
  });
  w.stats.data_bytes = static_cast<int64_t>(w.data_bytes());
  return w.stats;
}

std::shared_ptr<Graph> read_sinter_file(const std::string& path) {
  auto file = MappedFile::open(path);
  const char* p = file->data();
  const std::size_t size = file->size();
  SINTER_CHECK(size >= kSinterPrefixBytes && looks_like_sinter(p, size), invalid_model,
               "{}: not a .sinter file (no SINTERIR header)", path);
  const uint32_t version = get_u32(p + 8);
  SINTER_CHECK(version == kSinterFormatVersion, invalid_model,
               "{}: .sinter format version {}, this sinter reads version {}; convert the model "
               "again",
               path, version, kSinterFormatVersion);
  const uint64_t header_bytes = get_u64(p + 16), data_bytes = get_u64(p + 24);
  SINTER_CHECK(header_bytes <= size && data_bytes <= size, invalid_model,
               "{}: truncated ({} bytes, the header announces more)", path, size);
  const std::size_t data_offset = round_up(kSinterPrefixBytes + header_bytes);
  SINTER_CHECK(data_offset + data_bytes == size, invalid_model,
               "{}: {} bytes, expected {} (truncated or extended?)", path, size,
               data_offset + data_bytes);
  SINTER_CHECK(content_hash64(p + kSinterPrefixBytes, header_bytes) == get_u64(p + 32),
               invalid_model, "{}: the header fails its checksum (the file is corrupt)", path);
  try {
    const json header = json::parse(p + kSinterPrefixBytes, p + kSinterPrefixBytes + header_bytes);
    Reader reader(file, p + data_offset, data_bytes, header.at("tensors"));
    std::shared_ptr<Graph> g = reader.graph(header.at("graph"));
    validate(*g);
    return g;
  } catch (const Error& e) {
    raise(e.category(), "{}: {}", path, e.what());
  } catch (const std::exception& e) {
    raise(ErrorCategory::invalid_model, "{}: damaged .sinter file: {}", path, e.what());
  }
}

}  // namespace sinter::ir
