#include "devices/cpu/layout_propagation.hpp"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"
#include "devices/cpu/onednn_util.hpp"
#include "devices/cpu/ops/onednn_fast_paths.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

// FusedConv(x, w, bias, residual) and DynamicQuantConv(x, w, scales, bias, correction,
// residual): oneDNN
// convolutions that read x and the residual, and write their output, in any layout.
bool is_fused_conv(const ir::Node& n) {
  return n.domain == kCpuDomain && (n.op_type == "FusedConv" || n.op_type == "DynamicQuantConv");
}

std::size_t residual_input(const ir::Node& fused_conv) {
  return fused_conv.op_type == "DynamicQuantConv" ? 5 : 3;
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

bool is_channel_layer_norm(const ir::Node& n) {
  return n.domain == kCpuDomain && n.op_type == "ChannelLayerNorm" && !n.inputs.empty();
}

// Ops whose channels-last form reads their input 0 in the layout and writes it.
bool takes_channels_last(const ir::Node& n) {
  return is_group_norm(n) || is_squeeze_excite(n) || is_channel_layer_norm(n);
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

// Add / Sub / Mul / Div of two f32 tensors of the output's shape (a residual sum outside a
// convolution): elementwise, so any layout both inputs share is the output's too.
bool same_shape_elementwise(const ir::Node& n, const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || n.inputs.size() != 2 || n.outputs.size() != 1 ||
      (n.op_type != "Add" && n.op_type != "Sub" && n.op_type != "Mul" && n.op_type != "Div"))
    return false;
  const auto* y = known_f32_dims(shapes, n.outputs[0]);
  const auto* a = known_f32_dims(shapes, n.inputs[0]);
  const auto* b = known_f32_dims(shapes, n.inputs[1]);
  return y && a && b && *a == *y && *b == *y;
}

// Resize by whole factors on the spatial axes with nearest neighbours, as PyTorch exports
// F.interpolate(mode="nearest") (asymmetric coordinates, floor): output pixel (y, x) is input
// pixel (y / fy, x / fx). The factors, or nothing when the node is another Resize.
std::optional<std::vector<int64_t>> nearest_upsampling(const ir::Node& n,
                                                       const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || n.op_type != "Resize" || n.inputs.empty() || n.outputs.size() != 1 ||
      n.attr_string("mode", "nearest") != "nearest" ||
      n.attr_string("coordinate_transformation_mode", "half_pixel") != "asymmetric" ||
      n.attr_string("nearest_mode", "round_prefer_floor") != "floor" || n.find("axes"))
    return std::nullopt;
  const auto* x = known_f32_dims(shapes, n.inputs[0]);
  const auto* y = known_f32_dims(shapes, n.outputs[0]);
  if (!x || !y || x->size() != y->size() || x->size() < 3 || (*x)[0] != (*y)[0] ||
      (*x)[1] != (*y)[1])
    return std::nullopt;
  std::vector<int64_t> factors;
  for (std::size_t i = 2; i < x->size(); ++i) {
    if ((*x)[i] <= 0 || (*y)[i] % (*x)[i] != 0) return std::nullopt;
    factors.push_back((*y)[i] / (*x)[i]);
  }
  return factors;
}

// Any other Resize of the two spatial axes of a 4-D f32 tensor (N and C unchanged) that never
// reads outside its input: bilinear and bicubic upsampling and downsampling between
// convolutions (IS-Net's and U^2-Net's decoders, DBNet's necks), computed on whole pixels of
// channels-last memory. tf_crop_and_resize (extrapolates) and tf_half_pixel_for_nn with a
// non-nearest mode (shifts the N and C axes by half a pixel) stay plain.
bool spatial_resize(const ir::Node& n, const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || n.op_type != "Resize" || n.inputs.empty() || n.outputs.size() != 1 ||
      n.find("axes"))
    return false;
  const std::string mode = n.attr_string("mode", "nearest");
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "tf_crop_and_resize" || (coord == "tf_half_pixel_for_nn" && mode != "nearest"))
    return false;
  const auto* x = known_f32_dims(shapes, n.inputs[0]);
  const auto* y = known_f32_dims(shapes, n.outputs[0]);
  return x && y && x->size() == 4 && y->size() == 4 && (*x)[0] == (*y)[0] && (*x)[1] == (*y)[1];
}

// Concat along the channel axis (1) of f32 tensors of known shape.
bool concat_over_channels(const ir::Node& n, const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || n.op_type != "Concat" || n.inputs.empty() || n.outputs.size() != 1)
    return false;
  const auto* y = known_f32_dims(shapes, n.outputs[0]);
  if (!y || y->size() < 3) return false;
  const int64_t axis = n.attr_int("axis", 0);
  if (axis != 1 && axis != 1 - static_cast<int64_t>(y->size())) return false;
  for (const auto& in : n.inputs)
    if (in.empty() || !known_f32_dims(shapes, in)) return false;
  return true;
}

// Split along the channel axis (1) of an f32 tensor of known shape into outputs of known shape
// (YOLOv8's C2f blocks, CSP stages): each output a range of the input's channels.
bool split_over_channels(const ir::Node& n, const ir::ShapeInference& shapes) {
  if (!n.domain.empty() || n.op_type != "Split" || n.inputs.empty() || n.outputs.empty())
    return false;
  const auto* x = known_f32_dims(shapes, n.inputs[0]);
  if (!x || x->size() < 3) return false;
  const int64_t axis = n.attr_int("axis", 0);
  if (axis != 1 && axis != 1 - static_cast<int64_t>(x->size())) return false;
  for (const auto& out : n.outputs)
    if (out.empty() || !known_f32_dims(shapes, out)) return false;
  return true;
}

// perm = (0, 2, ..., rank-1, 1): the channels of [N, C, spatial...] moved last (to_last), or
// (0, rank-1, 1, ..., rank-2): moved back. Either is no data movement for channels-last memory.
bool moves_channels(const ir::Node& n, bool to_last) {
  const ir::Attribute* perm = n.find("perm");
  if (!n.domain.empty() || n.op_type != "Transpose" || n.inputs.size() != 1 ||
      n.outputs.size() != 1 || !perm || perm->ints.size() < 3 || perm->ints.size() > 5)
    return false;
  const int64_t rank = static_cast<int64_t>(perm->ints.size());
  std::vector<int64_t> expected = {0};
  if (to_last) {
    for (int64_t i = 2; i < rank; ++i) expected.push_back(i);
    expected.push_back(1);
  } else {
    expected.push_back(rank - 1);
    for (int64_t i = 1; i < rank - 1; ++i) expected.push_back(i);
  }
  return perm->ints == expected;
}

}  // namespace

int keep_conv_layouts(ir::Graph& g, const std::string& layout, const ir::ShapeInference& shapes) {
  if (layout.empty()) return 0;
  const bool channels_last = layout == onednn::kChannelsLast;
  // A channel block pads the channels to a multiple of itself unless they are one already.
  const int64_t block = layout == onednn::kBlocked16 ? 16 : layout == onednn::kBlocked8 ? 8 : 1;
  const auto readers = passes::readers_of(g);
  // For nodes that compute in the layout when their output is kept in it (pools; with
  // channels-last also channel scales, norms and same-shape elementwise ops): the inputs that
  // must then be in the layout too. Their other inputs (parameters) are read plain.
  std::vector<std::vector<std::size_t>> sources(g.nodes.size());
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (is_onednn_pool(n, shapes)) {
      sources[i] = {0};
    } else if (concat_over_channels(n, shapes)) {
      for (std::size_t k = 0; k < n.inputs.size(); ++k) sources[i].push_back(k);
    } else if (split_over_channels(n, shapes)) {
      sources[i] = {0};
    } else if (channels_last) {
      if (takes_channels_last(n) || nearest_upsampling(n, shapes) || spatial_resize(n, shapes))
        sources[i] = {0};
      else if (const int side = channel_scale_input(n, shapes); side >= 0)
        sources[i] = {static_cast<std::size_t>(side)};
      else if (same_shape_elementwise(n, shapes))
        sources[i] = {0, 1};
    }
  }

  // Images turned into tokens and back (channels-last only): Reshape index -> the Transpose
  // after it (to_tokens) or before it (from_tokens); Transposes that move the channels last
  // (to_last, e.g. ConvNeXt's permute to NHWC) or back (from_last).
  std::unordered_map<std::size_t, std::size_t> to_tokens, from_tokens;
  std::unordered_set<std::size_t> to_last, from_last;
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
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      if (moves_channels(g.nodes[i], true)) to_last.insert(i);
      if (moves_channels(g.nodes[i], false)) from_last.insert(i);
    }
    for (const auto& [u, t] : from_tokens) from_last.erase(t);  // already part of a pattern
  }

  // Candidates: outputs of FusedConv, of the nodes above and of images made from tokens that
  // could be stored so.
  // A Split's outputs are candidates together: the node writes all of them in the layout or
  // none (an output no node reads is still written).
  std::unordered_map<std::string, std::size_t> kept;  // value -> producer
  auto candidate = [&](const std::string& v) {
    const auto* dims = known_f32_dims(shapes, v);
    return dims && dims->size() >= 3 && dims->size() <= 5 && (*dims)[1] % block == 0 &&
           !passes::is_graph_output(g, v);
  };
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (!is_fused_conv(n) && sources[i].empty() && !from_tokens.count(i) && !from_last.count(i))
      continue;
    const bool grouped = n.outputs.size() > 1;  // Split
    if (grouped && !std::all_of(n.outputs.begin(), n.outputs.end(), candidate)) continue;
    if (!grouped && (!candidate(n.outputs[0]) || !readers.count(n.outputs[0]))) continue;
    for (const auto& v : n.outputs) kept.emplace(v, i);
  }
  // Whether reader r (node ri) reads v in the layout, given the values kept so far.
  auto reads_kept = [&](const ir::Node& r, std::size_t ri, const std::string& v) {
    if (is_fused_conv(r)) return r.inputs[1] != v && (r.inputs.size() < 3 || r.inputs[2] != v);
    if (channels_last && is_global_average_pool(r)) return true;
    if ((to_tokens.count(ri) || to_last.count(ri)) && r.inputs[0] == v) return true;
    if (sources[ri].empty() || !kept.count(r.outputs[0])) return false;
    // v must be among the layout sources and nothing else (parameters read plain).
    for (std::size_t k = 0; k < r.inputs.size(); ++k) {
      const bool source = std::find(sources[ri].begin(), sources[ri].end(), k) != sources[ri].end();
      if (r.inputs[k] == v && !source) return false;
    }
    return true;
  };
  // Only a node without subgraphs can be redirected to a plain copy (its inputs are renamed;
  // reads inside a subgraph are not).
  auto redirectable = [](const ir::Node& r, const std::string& v) {
    for (const auto& [_, a] : r.attributes)
      if (a.g || !a.graphs.empty()) return false;
    return std::find(r.inputs.begin(), r.inputs.end(), v) != r.inputs.end();
  };
  // Drop values until none changes: one whose producer's layout sources are not all kept (it
  // then writes plain), one no reader takes in the layout (writing it plain costs no more than
  // converting it for them), and one a subgraph reads (its reads cannot be redirected). A kept
  // value's other readers get a plain copy made once (LayoutToPlain).
  // The outputs of one node (a Split's) are judged together.
  static const std::vector<std::size_t> no_readers;
  auto readers_of = [&](const std::string& v) -> const std::vector<std::size_t>& {
    auto it = readers.find(v);
    return it == readers.end() ? no_readers : it->second;
  };
  for (bool changed = true; changed;) {
    changed = false;
    std::unordered_set<std::size_t> dropped;
    for (const auto& [v, p] : kept) {
      if (dropped.count(p)) continue;
      bool keep = true;
      for (std::size_t k : sources[p]) keep = keep && kept.count(g.nodes[p].inputs[k]);
      int taking = 0;
      for (const auto& out : g.nodes[p].outputs) {
        keep = keep && kept.count(out);
        for (std::size_t r : readers_of(out)) {
          if (reads_kept(g.nodes[r], r, out))
            ++taking;
          else if (!redirectable(g.nodes[r], out))
            keep = false;
        }
      }
      if (!keep || taking == 0) dropped.insert(p);
    }
    for (auto it = kept.begin(); it != kept.end();) {
      if (dropped.count(it->second)) {
        it = kept.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  // Plain copies for the readers that do not take a kept value: value -> its copy's name.
  std::unordered_map<std::string, std::string> plain_copy;
  for (const auto& [v, p] : kept) {
    for (std::size_t r : readers_of(v)) {
      if (reads_kept(g.nodes[r], r, v)) continue;
      if (!plain_copy.count(v)) plain_copy[v] = passes::fresh_constant_name(g, v + "_plain");
      for (auto& in : g.nodes[r].inputs)
        if (in == v) in = plain_copy[v];
    }
  }
  auto set_layout = [&](ir::Node& n, const char* attr) {
    n.attributes[attr].kind = ir::Attribute::Kind::s;
    n.attributes[attr].s = layout;
  };
  auto set_shape = [&](ir::Node& n, const std::string& value) {
    n.attributes["shape"].kind = ir::Attribute::Kind::ints;
    n.attributes["shape"].ints = *known_f32_dims(shapes, value);
  };
  std::vector<bool> removed(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& n = g.nodes[i];
    if (to_tokens.count(i) && kept.count(n.inputs[0])) {
      // Reshape + Transpose -> one view of the image's memory as tokens.
      const std::size_t t = to_tokens.at(i);
      std::vector<std::size_t> sources_of_view = n.sources;
      sources_of_view.insert(sources_of_view.end(), g.nodes[t].sources.begin(),
                             g.nodes[t].sources.end());
      n = ir::Node{n.name, "ChannelsLastTokens",      kCpuDomain, {n.inputs[0]}, g.nodes[t].outputs,
                   {},     std::move(sources_of_view)};
      set_layout(n, "layout");
      removed[t] = true;
    } else if (to_last.count(i) && kept.count(n.inputs[0])) {
      // Transpose to [N, spatial..., C] -> a view of the channels-last memory.
      const std::string out = n.outputs[0];
      n = ir::Node{n.name, "ChannelsLastTokens", kCpuDomain, {n.inputs[0]}, {out}, {}, n.sources};
      set_layout(n, "layout");
      set_shape(n, out);
    } else if (from_tokens.count(i) && kept.count(n.outputs[0])) {
      // Transpose + Reshape -> one view of the tokens' memory as a channels-last image.
      const std::size_t t = from_tokens.at(i);
      std::vector<std::size_t> sources_of_view = g.nodes[t].sources;
      sources_of_view.insert(sources_of_view.end(), n.sources.begin(), n.sources.end());
      const std::string out = n.outputs[0];
      n = ir::Node{n.name, "TokensAsChannelsLast",    kCpuDomain, {g.nodes[t].inputs[0]}, {out},
                   {},     std::move(sources_of_view)};
      set_shape(n, out);
      set_layout(n, "layout");
      removed[t] = true;
    } else if (from_last.count(i) && kept.count(n.outputs[0])) {
      // Transpose of [N, spatial..., C] back to [N, C, spatial...] -> a view as channels-last.
      const std::string out = n.outputs[0];
      n = ir::Node{n.name, "TokensAsChannelsLast", kCpuDomain, {n.inputs[0]}, {out}, {}, n.sources};
      set_shape(n, out);
      set_layout(n, "layout");
    } else if (is_fused_conv(n)) {
      if (kept.count(n.outputs[0])) set_layout(n, "dst_layout");
      if (kept.count(n.inputs[0])) set_layout(n, "src_layout");
      const std::size_t residual = residual_input(n);
      if (n.inputs.size() > residual && kept.count(n.inputs[residual]))
        set_layout(n, "residual_layout");
    } else if (channels_last && is_global_average_pool(n) && kept.count(n.inputs[0])) {
      n.domain = kCpuDomain;  // same name, the internal op that reads channels-last
      set_layout(n, "src_layout");
    } else if (is_onednn_pool(n, shapes) && kept.count(n.inputs[0])) {
      n.domain = kCpuDomain;  // same name, the internal op that pools in the kept layout
      set_layout(n, "layout");
    } else if (split_over_channels(n, shapes) && kept.count(n.outputs[0])) {
      // The internal op of the same name: each output's channels copied in the kept layout.
      std::vector<int64_t> channels;
      for (const auto& out : n.outputs) channels.push_back((*known_f32_dims(shapes, out))[1]);
      n.domain = kCpuDomain;
      n.inputs = {n.inputs[0]};
      n.attributes.clear();
      n.attributes["channels"].kind = ir::Attribute::Kind::ints;
      n.attributes["channels"].ints = channels;
      set_layout(n, "layout");
    } else if (concat_over_channels(n, shapes) && kept.count(n.outputs[0])) {
      n.domain = kCpuDomain;  // same name, the internal op that concatenates in the kept layout
      n.attributes.clear();
      set_layout(n, "layout");
    } else if (const auto factors = channels_last ? nearest_upsampling(n, shapes) : std::nullopt;
               factors && kept.count(n.outputs[0])) {
      // The internal op of the same name: whole-pixel copies in channels-last memory.
      const std::string x = n.inputs[0];
      n.domain = kCpuDomain;
      n.inputs = {x};
      n.attributes.clear();
      n.attributes["factors"].kind = ir::Attribute::Kind::ints;
      n.attributes["factors"].ints = *factors;
      set_layout(n, "layout");
    } else if (channels_last && spatial_resize(n, shapes) && kept.count(n.outputs[0])) {
      n.domain = kCpuDomain;  // the internal op of the same name, its ONNX attributes kept
      n.attributes["onnx_opset"].kind = ir::Attribute::Kind::i;
      n.attributes["onnx_opset"].i = g.opset("");
      set_layout(n, "layout");
    } else if (takes_channels_last(n) && kept.count(n.inputs[0])) {
      set_layout(n, "layout");
    } else if (sources[i].size() == 1 && kept.count(n.outputs[0])) {
      const std::size_t side = sources[i][0];
      const std::string x = n.inputs[side], s = n.inputs[1 - side];
      n.domain = kCpuDomain;
      n.op_type = n.op_type == "Mul" ? "ChannelScale" : "ChannelShift";
      n.inputs = {x, s};
      set_layout(n, "layout");
    }
    // Same-shape elementwise ops on kept values stay as they are: elementwise, layout-blind.
  }
  // The plain copies, each right after the kept value's producer.
  std::vector<ir::Node> nodes;
  nodes.reserve(g.nodes.size() + plain_copy.size());
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (removed[i]) continue;
    nodes.push_back(std::move(g.nodes[i]));
    const std::vector<std::string> made = nodes.back().outputs;
    const std::string made_name = nodes.back().name;
    for (std::size_t k = 0; k < made.size(); ++k) {
      if (!plain_copy.count(made[k])) continue;
      ir::Node copy{made_name + "_to_plain" + (k ? std::to_string(k) : std::string()),
                    "LayoutToPlain",
                    kCpuDomain,
                    {made[k]},
                    {plain_copy.at(made[k])},
                    {},
                    {}};
      set_layout(copy, "layout");
      nodes.push_back(std::move(copy));
    }
  }
  g.nodes = std::move(nodes);
  return static_cast<int>(kept.size());
}

}  // namespace sinter::cpu
