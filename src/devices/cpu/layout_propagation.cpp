#include "devices/cpu/layout_propagation.hpp"

#include <unordered_map>
#include <unordered_set>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"
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

// MaxPool / AveragePool that oneDNN pools in any layout.
bool is_onednn_pool(const ir::Node& n, const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || n.inputs.empty()) return false;
  const auto* dims = known_f32_dims(shapes, n.inputs[0]);
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
    const auto* x = known_f32_dims(shapes, n.inputs[side]);
    const auto* s = known_f32_dims(shapes, n.inputs[1 - side]);
    const auto* y = known_f32_dims(shapes, n.outputs[0]);
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

// The patterns that turn an image into a sequence of tokens and back around a transformer
// (Stable Diffusion's spatial transformer, ViT-style stems):
//   tokens = Transpose(Reshape(v [N, C, spatial...] -> [N, C, S]), perm 0,2,1)  [N, S, C]
//   u = Reshape(Transpose(t [N, S, C], perm 0,2,1) -> [N, C, S]) -> [N, C, spatial...]
// The tokens are v's channels-last memory, and t is u's: with v / u kept channels-last both
// become views (ChannelsLastTokens, TokensAsChannelsLast) instead of two copies each.

bool transposes_last_two_of_three(const ir::Node& n) {
  const ir::Attribute* perm = n.find("perm");
  return n.domain.empty() && n.op_type == "Transpose" && n.inputs.size() == 1 &&
         n.outputs.size() == 1 && perm && perm->ints == std::vector<int64_t>{0, 2, 1};
}

bool flattens_spatial(const std::vector<int64_t>& image, const std::vector<int64_t>& flat) {
  if (image.size() < 3 || flat.size() != 3 || flat[0] != image[0] || flat[1] != image[1])
    return false;
  int64_t spatial = 1;
  for (std::size_t i = 2; i < image.size(); ++i) spatial *= image[i];
  return flat[2] == spatial;
}

// For a Reshape r of an image into [N, C, S] whose one reader is the Transpose to tokens: that
// Transpose's index; -1 otherwise.
int tokens_transpose(const ir::Graph& g, const ir::ShapeInference& shapes,
                     const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                     std::size_t r) {
  const ir::Node& reshape = g.nodes[r];
  if (!reshape.domain.empty() || reshape.op_type != "Reshape" || reshape.outputs.size() != 1 ||
      reshape.inputs.empty())
    return -1;
  const auto* image = known_f32_dims(shapes, reshape.inputs[0]);
  const auto* flat = known_f32_dims(shapes, reshape.outputs[0]);
  auto it = readers.find(reshape.outputs[0]);
  if (!image || !flat || !flattens_spatial(*image, *flat) || it == readers.end() ||
      it->second.size() != 1 || passes::is_graph_output(g, reshape.outputs[0]))
    return -1;
  const std::size_t t = it->second[0];
  return transposes_last_two_of_three(g.nodes[t]) ? static_cast<int>(t) : -1;
}

// For a Reshape u of [N, C, S] into an image, whose input is the Transpose of tokens [N, S, C]
// (read by nothing else): that Transpose's index; -1 otherwise.
int image_transpose(const ir::Graph& g, const ir::ShapeInference& shapes,
                    const std::unordered_map<std::string, std::vector<std::size_t>>& readers,
                    const std::unordered_map<std::string, std::size_t>& producers, std::size_t u) {
  const ir::Node& reshape = g.nodes[u];
  if (!reshape.domain.empty() || reshape.op_type != "Reshape" || reshape.outputs.size() != 1 ||
      reshape.inputs.empty())
    return -1;
  auto p = producers.find(reshape.inputs[0]);
  auto it = readers.find(reshape.inputs[0]);
  if (p == producers.end() || !transposes_last_two_of_three(g.nodes[p->second]) ||
      it == readers.end() || it->second.size() != 1 ||
      passes::is_graph_output(g, reshape.inputs[0]))
    return -1;
  const auto* flat = known_f32_dims(shapes, reshape.inputs[0]);
  const auto* image = known_f32_dims(shapes, reshape.outputs[0]);
  return flat && image && flattens_spatial(*image, *flat) ? static_cast<int>(p->second) : -1;
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

  // Images turned into tokens and back (channels-last only): Reshape index -> the Transpose
  // after it (to_tokens) or before it (from_tokens).
  std::unordered_map<std::size_t, std::size_t> to_tokens, from_tokens;
  if (channels_last) {
    std::unordered_map<std::string, std::size_t> producers;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& o : g.nodes[i].outputs) producers[o] = i;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      if (const int t = tokens_transpose(g, shapes, readers, i); t >= 0)
        to_tokens[i] = static_cast<std::size_t>(t);
      if (const int t = image_transpose(g, shapes, readers, producers, i); t >= 0)
        from_tokens[i] = static_cast<std::size_t>(t);
    }
  }

  // Candidates: outputs of FusedConv, of the nodes above and of images made from tokens that
  // could be stored so.
  std::unordered_map<std::string, std::size_t> kept;  // value -> producer
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (!is_fused_conv(n) && layout_source[i] < 0 && !from_tokens.count(i)) continue;
    const std::string& v = n.outputs[0];
    const auto* dims = known_f32_dims(shapes, v);
    if (!dims || dims->size() < 3 || dims->size() > 5 || (*dims)[1] % block != 0) continue;
    if (passes::is_graph_output(g, v) || !readers.count(v)) continue;
    kept.emplace(v, i);
  }
  // Drop candidates some reader cannot take, until none changes: a scale whose input is not
  // kept writes plain, and a scale whose output is not kept must read plain.
  auto reader_takes = [&](const ir::Node& r, std::size_t ri, const std::string& v) {
    if (is_fused_conv(r)) return r.inputs[1] != v && (r.inputs.size() < 3 || r.inputs[2] != v);
    if (channels_last && is_global_average_pool(r)) return true;
    if (to_tokens.count(ri) && r.inputs[0] == v) return true;
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
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& n = g.nodes[i];
    if (to_tokens.count(i) && kept.count(n.inputs[0])) {
      // Reshape + Transpose -> one view of the image's memory as tokens.
      const std::size_t t = to_tokens.at(i);
      std::vector<std::size_t> sources = n.sources;
      sources.insert(sources.end(), g.nodes[t].sources.begin(), g.nodes[t].sources.end());
      n = ir::Node{n.name, "ChannelsLastTokens", kCpuDomain, {n.inputs[0]}, g.nodes[t].outputs,
                   {},     std::move(sources)};
      set_layout(n, "layout");
      removed[t] = true;
    } else if (from_tokens.count(i) && kept.count(n.outputs[0])) {
      // Transpose + Reshape -> one view of the tokens' memory as a channels-last image.
      const std::size_t t = from_tokens.at(i);
      const auto* image = known_f32_dims(shapes, n.outputs[0]);
      std::vector<std::size_t> sources = g.nodes[t].sources;
      sources.insert(sources.end(), n.sources.begin(), n.sources.end());
      n = ir::Node{n.name, "TokensAsChannelsLast", kCpuDomain, {g.nodes[t].inputs[0]}, n.outputs,
                   {},     std::move(sources)};
      n.attributes["shape"].kind = ir::Attribute::Kind::ints;
      n.attributes["shape"].ints = *image;
      set_layout(n, "layout");
      removed[t] = true;
    } else if (is_fused_conv(n)) {
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
  passes::erase_nodes(g, removed);
  return static_cast<int>(kept.size());
}

}  // namespace sinter::cpu
