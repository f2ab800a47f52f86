#include "devices/cpu/layout_propagation.hpp"

#include <unordered_map>
#include <unordered_set>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

bool is_fused_conv(const ir::Node& n) {
  return n.domain == kCpuDomain && n.op_type == "FusedConv";
}

bool is_global_average_pool(const ir::Node& n) {
  return n.domain.empty() && n.op_type == "GlobalAveragePool" && n.inputs.size() == 1 &&
         n.outputs.size() == 1;
}

const std::vector<int64_t>* known_dims(const ir::ShapeInference& shapes, const std::string& v) {
  auto it = shapes.values.find(v);
  if (it == shapes.values.end() || !it->second.shape_known() || it->second.type != ElementType::f32)
    return nullptr;
  return &it->second.dims;
}

// MaxPool / AveragePool that oneDNN pools in any layout.
bool is_onednn_pool(const ir::Node& n, const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || n.inputs.empty()) return false;
  const auto* dims = known_dims(shapes, n.inputs[0]);
  return dims && onednn_pools(n, *dims);
}

bool is_group_norm(const ir::Node& n) {
  return n.domain == kCpuDomain && n.op_type == "GroupNorm" && !n.inputs.empty();
}

bool is_squeeze_excite(const ir::Node& n) {
  return n.domain == kCpuDomain && n.op_type == "SqueezeExcite" && !n.inputs.empty();
}

// For Mul(x, s) or Add(x, s) with s one value per channel (and sample) of x (squeeze-excite
// gates, diffusion models' timestep embeddings): the position of x (0 or 1); -1 for any other
// node.
int channel_scale_input(const ir::Node& n, const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || (n.op_type != "Mul" && n.op_type != "Add") || n.inputs.size() != 2 ||
      n.outputs.size() != 1)
    return -1;
  for (int side = 0; side < 2; ++side) {
    const auto* x = known_dims(shapes, n.inputs[side]);
    const auto* s = known_dims(shapes, n.inputs[1 - side]);
    const auto* y = known_dims(shapes, n.outputs[0]);
    if (!x || !s || !y || *x != *y || x->size() < 3 || s->size() > x->size()) continue;
    // Right-aligned: s is [.., C, 1, .., 1] with C at x's channel axis and, if present, a batch
    // axis of 1 or N.
    const std::size_t pad = x->size() - s->size();
    bool fits = true;
    for (std::size_t i = 0; i < x->size() && fits; ++i) {
      const int64_t d = i < pad ? 1 : (*s)[i - pad];
      fits = i == 1 ? (d == (*x)[1]) : (i == 0 ? (d == 1 || d == (*x)[0]) : d == 1);
    }
    if (fits) return side;
  }
  return -1;
}

}  // namespace

int keep_conv_layouts(ir::Graph& g, const std::string& layout, const ir::ShapeInference& shapes) {
  if (layout.empty()) return 0;
  const bool channels_last = layout == onednn::kChannelsLast;
  // A channel block pads the channels to a multiple of itself unless they are one already.
  const int64_t block = layout == onednn::kBlocked16 ? 16 : layout == onednn::kBlocked8 ? 8 : 1;
  const auto readers = passes::readers_of(g);
  // For nodes whose output has the layout of one data input (pools; with channels-last also
  // channel scales and group norms): the position of that input; -1 for the others.
  std::vector<int> layout_source(g.nodes.size(), -1);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (is_onednn_pool(n, shapes))
      layout_source[i] = 0;
    else if (channels_last)
      layout_source[i] =
          is_group_norm(n) || is_squeeze_excite(n) ? 0 : channel_scale_input(n, shapes);
  }

  // Candidates: outputs of FusedConv and of the nodes above that could be stored so.
  std::unordered_map<std::string, std::size_t> kept;  // value -> producer
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (!is_fused_conv(n) && layout_source[i] < 0) continue;
    const std::string& v = n.outputs[0];
    const auto* dims = known_dims(shapes, v);
    if (!dims || dims->size() < 3 || dims->size() > 5 || (*dims)[1] % block != 0) continue;
    if (passes::is_graph_output(g, v) || !readers.count(v)) continue;
    kept.emplace(v, i);
  }
  // Drop candidates some reader cannot take, until none changes: a scale whose input is not
  // kept writes plain, and a scale whose output is not kept must read plain.
  auto reader_takes = [&](const ir::Node& r, std::size_t ri, const std::string& v) {
    if (is_fused_conv(r)) return r.inputs[1] != v && (r.inputs.size() < 3 || r.inputs[2] != v);
    if (channels_last && is_global_average_pool(r)) return true;
    if (layout_source[ri] < 0 || !kept.count(r.outputs[0])) return false;
    // v must be the layout source and nothing else (a scale or norm parameter reads plain).
    for (std::size_t k = 0; k < r.inputs.size(); ++k)
      if ((r.inputs[k] == v) != (k == static_cast<std::size_t>(layout_source[ri]))) return false;
    return true;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = kept.begin(); it != kept.end();) {
      const ir::Node& producer = g.nodes[it->second];
      bool keep =
          layout_source[it->second] < 0 || kept.count(producer.inputs[layout_source[it->second]]);
      for (std::size_t r : readers.at(it->first))
        keep = keep && reader_takes(g.nodes[r], r, it->first);
      if (keep) {
        ++it;
      } else {
        it = kept.erase(it);
        changed = true;
      }
    }
  }
  auto set_layout = [&](ir::Node& n, const char* attr) {
    n.attributes[attr].kind = ir::Attribute::Kind::s;
    n.attributes[attr].s = layout;
  };
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& n = g.nodes[i];
    if (is_fused_conv(n)) {
      if (kept.count(n.outputs[0])) set_layout(n, "dst_layout");
      if (kept.count(n.inputs[0])) set_layout(n, "src_layout");
      if (n.inputs.size() > 3 && kept.count(n.inputs[3])) set_layout(n, "residual_layout");
    } else if (channels_last && is_global_average_pool(n) && kept.count(n.inputs[0])) {
      n.domain = kCpuDomain;  // same name, the internal op that reads channels-last
      set_layout(n, "src_layout");
    } else if (is_onednn_pool(n, shapes) && kept.count(n.inputs[0])) {
      n.domain = kCpuDomain;  // same name, the internal op that pools in the kept layout
      set_layout(n, "layout");
    } else if ((is_group_norm(n) || is_squeeze_excite(n)) && kept.count(n.inputs[0])) {
      set_layout(n, "layout");
    } else if (layout_source[i] >= 0 && kept.count(n.inputs[layout_source[i]])) {
      const std::string x = n.inputs[layout_source[i]], s = n.inputs[1 - layout_source[i]];
      n.domain = kCpuDomain;
      n.op_type = n.op_type == "Mul" ? "ChannelScale" : "ChannelShift";
      n.inputs = {x, s};
      set_layout(n, "layout");
    }
  }
  return static_cast<int>(kept.size());
}

}  // namespace sinter::cpu
