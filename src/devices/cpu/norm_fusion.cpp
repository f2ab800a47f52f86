#include "devices/cpu/norm_fusion.hpp"

#include <algorithm>
#include <utility>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"
#include "passes/graph_rewrite.hpp"

namespace sinter::cpu {

namespace {

// Known dims of `value` (empty when its rank is not known).
std::vector<int64_t> dims_of(const ir::ShapeInference& shapes, const std::string& value) {
  auto it = shapes.values.find(value);
  if (it == shapes.values.end() || !it->second.rank_known) return {};
  return it->second.dims;
}

bool known(const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    if (d < 0) return false;
  return !dims.empty();
}

// True when `name` is an f32 constant of C values that broadcasts along axis 1 of a tensor of
// rank `rank`: shape [C, 1, ..., 1] (any rank up to rank - 1) or [1, C, 1, ...].
bool per_channel_constant(const ir::Graph& g, const std::string& name, int64_t channels,
                          std::size_t rank) {
  const Tensor* t = passes::f32_constant(g, name);
  if (!t || t->element_count() != channels || static_cast<std::size_t>(t->rank()) > rank)
    return false;
  // Broadcasting aligns shapes on the right: the constant's axis ci meets the channel axis 1.
  const int64_t ci = t->rank() - static_cast<int64_t>(rank) + 1;
  for (int64_t i = 0; i < t->rank(); ++i)
    if (t->shape()[i] != (i == ci ? channels : 1)) return false;
  return ci >= 0 || channels == 1;
}

// Reshape(x, [0 or N, G, -1 or rest]) as a constant: grouping x's channels into G groups.
bool groups_reshape(const ir::Graph& g, const ir::Node& reshape, const std::vector<int64_t>& x,
                    int64_t groups) {
  if (reshape.inputs.size() != 2 || reshape.find("allowzero")) return false;
  const auto it = g.constants.find(reshape.inputs[1]);
  if (it == g.constants.end() || it->second.element_type() != ElementType::i64 ||
      it->second.element_count() != 3)
    return false;
  const int64_t* v = it->second.data_as<int64_t>();
  int64_t rest = 1;
  for (std::size_t i = 2; i < x.size(); ++i) rest = x[i] < 0 ? -1 : rest * x[i];
  const int64_t channels_per_group = x[1] / groups;
  const bool batch_kept = v[0] == 0 || (x[0] >= 0 && v[0] == x[0]);
  const bool rest_kept = v[2] == -1 || (rest >= 0 && v[2] == rest * channels_per_group);
  return batch_kept && v[1] == groups && rest_kept;
}

// The Reshape back to x's shape: to Shape(x), or to x's known dims.
bool restores_shape(const ir::ShapeInference& shapes, GraphMatcher& m, const ir::Node& reshape,
                    const std::string& x) {
  if (reshape.inputs.size() != 2) return false;
  const auto xd = dims_of(shapes, x);
  if (known(xd) && dims_of(shapes, reshape.outputs[0]) == xd) return true;
  const ir::Node* n = m.producer(reshape.inputs[1]);
  return n && n->op_type == "Shape" && n->domain.empty() && n->inputs.size() == 1 &&
         n->inputs[0] == x && !n->find("start") && !n->find("end");
}

void set_f(ir::Node& n, const char* name, float v) {
  n.attributes[name].kind = ir::Attribute::Kind::f;
  n.attributes[name].f = v;
}

// Takes a following Swish into `last`'s fused node: returns the node that now ends the chain.
ir::Node* absorb_swish(GraphMatcher& m, ir::Node* last, float& alpha, bool& swish) {
  ir::Node* s = m.sole_reader(last->outputs[0], "Swish", kCpuDomain);
  if (!s) return last;
  swish = true;
  alpha = s->find("alpha") ? s->find("alpha")->f : 1.f;
  m.remove(last);
  return s;
}

// The fused node takes the place (and output) of `last`, the chain's final node.
void make_group_norm(GraphMatcher& m, ir::Node* last, std::vector<std::string> inputs,
                     int64_t groups, float epsilon, bool swish, float alpha) {
  const std::vector<std::string> outputs = last->outputs;
  std::vector<std::size_t> sources = m.take_absorbed_sources();
  sources.insert(sources.end(), last->sources.begin(), last->sources.end());
  *last = ir::Node{};
  last->name = "GroupNorm_" + outputs[0];
  last->op_type = "GroupNorm";
  last->domain = kCpuDomain;
  last->inputs = std::move(inputs);
  last->outputs = outputs;
  last->sources = std::move(sources);
  last->attributes["groups"].kind = ir::Attribute::Kind::i;
  last->attributes["groups"].i = groups;
  set_f(*last, "epsilon", epsilon);
  if (swish) {
    last->attributes["activation"].kind = ir::Attribute::Kind::s;
    last->attributes["activation"].s = "swish";
    set_f(*last, "alpha", alpha);
  }
}

float epsilon_of(const ir::Node& n) {
  return n.find("epsilon") ? n.find("epsilon")->f : 1e-5f;
}

// Reshape -> InstanceNormalization -> Reshape [-> Mul] [-> Add] [-> Swish], from the norm.
int match_decomposed(ir::Graph& g, const ir::ShapeInference& shapes, GraphMatcher& m,
                     ir::Node& norm) {
  if (norm.inputs.size() != 3) return 0;
  const Tensor* group_scale = passes::f32_constant(g, norm.inputs[1]);
  const Tensor* group_bias = passes::f32_constant(g, norm.inputs[2]);
  if (!group_scale || !group_bias || group_scale->element_count() != group_bias->element_count())
    return 0;
  const int64_t groups = group_scale->element_count();
  ir::Node* split = m.private_producer(norm.inputs[0], "Reshape");
  if (!split) return 0;
  const std::string x = split->inputs[0];
  const auto xd = dims_of(shapes, x);
  auto info = shapes.values.find(x);
  if (xd.size() < 3 || xd[1] <= 0 || groups <= 0 || xd[1] % groups != 0 ||
      info->second.type != ElementType::f32 || !groups_reshape(g, *split, xd, groups))
    return 0;
  ir::Node* back = m.sole_reader(norm.outputs[0], "Reshape");
  if (!back || !restores_shape(shapes, m, *back, x)) return 0;
  m.remove(&norm);  // first: the fused node's time is reported on its first source
  m.remove(split);
  ir::Node* last = back;
  std::string channel_scale, channel_bias;
  int absorbed = 2;
  for (const char* op : {"Mul", "Add"}) {
    ir::Node* next = m.sole_reader(last->outputs[0], op);
    if (!next || next->inputs.size() != 2) break;
    const int side = next->inputs[0] == last->outputs[0] ? 1 : 0;
    if (!per_channel_constant(g, next->inputs[side], xd[1], xd.size())) break;
    (std::string(op) == "Mul" ? channel_scale : channel_bias) = next->inputs[side];
    m.remove(last);
    last = next;
    ++absorbed;
  }
  bool swish = false;
  float alpha = 1.f;
  ir::Node* end = absorb_swish(m, last, alpha, swish);
  absorbed += end != last;
  // A Shape(x) that only fed the Reshape back goes too.
  if (ir::Node* shape = m.private_producer(back->inputs[1], "Shape")) {
    m.remove(shape);
    ++absorbed;
  }
  make_group_norm(m, end, {x, norm.inputs[1], norm.inputs[2], channel_scale, channel_bias}, groups,
                  epsilon_of(norm), swish, alpha);
  return absorbed;
}

// GroupNormalization(x, scale, bias) [-> Swish].
int match_group_normalization(ir::Graph& g, const ir::ShapeInference& shapes, GraphMatcher& m,
                              ir::Node& norm) {
  if (norm.inputs.size() != 3 || norm.outputs.size() != 1 || !norm.find("num_groups")) return 0;
  const int64_t groups = norm.find("num_groups")->i;
  const auto xd = dims_of(shapes, norm.inputs[0]);
  const Tensor* scale = passes::f32_constant(g, norm.inputs[1]);
  const Tensor* bias = passes::f32_constant(g, norm.inputs[2]);
  if (xd.size() < 3 || xd[1] <= 0 || groups <= 0 || xd[1] % groups != 0 || !scale || !bias ||
      scale->element_count() != bias->element_count() ||
      shapes.values.at(norm.inputs[0]).type != ElementType::f32)
    return 0;
  const bool per_channel = scale->element_count() == xd[1];
  if (!per_channel && scale->element_count() != groups) return 0;
  const std::string x = norm.inputs[0], s = norm.inputs[1], b = norm.inputs[2];
  bool swish = false;
  float alpha = 1.f;
  ir::Node* end = absorb_swish(m, &norm, alpha, swish);
  const float epsilon = epsilon_of(norm);
  if (per_channel)
    make_group_norm(m, end, {x, "", "", s, b}, groups, epsilon, swish, alpha);
  else
    make_group_norm(m, end, {x, s, b, "", ""}, groups, epsilon, swish, alpha);
  return swish ? 1 : 0;
}

// The one axis a ReduceMean reduces, keeping dims, as a non-negative index into a rank-`rank`
// value; -1 for any other ReduceMean.
int64_t mean_axis(const GraphMatcher& m, const ir::Node& n, int64_t rank) {
  const auto axes = m.kept_dims_reduce_axes(n);
  if (!axes || axes->size() != 1 || (*axes)[0] < -rank || (*axes)[0] >= rank) return -1;
  return (*axes)[0] < 0 ? (*axes)[0] + rank : (*axes)[0];
}

// The f32 constant operand of a binary node whose other operand is `value`, with `count`
// elements along the normalised axis only (the last axis; with `channels`, axis 1 of a
// rank-`rank` value); "" when there is none.
std::string axis_constant(const ir::Graph& g, const ir::Node& n, const std::string& value,
                          int64_t count, bool channels, std::size_t rank) {
  if (n.inputs.size() != 2) return "";
  const std::string& other = n.inputs[0] == value ? n.inputs[1] : n.inputs[0];
  if (channels) return per_channel_constant(g, other, count, rank) ? other : "";
  const Tensor* t = passes::f32_constant(g, other);
  if (!t || t->element_count() != count || t->rank() < 1 || t->shape().back() != count) return "";
  return other;
}

// From the Div: the statistics chain back to x, then the affine part forward; absorbed count.
int match_layer_norm(ir::Graph& g, const ir::ShapeInference& shapes, GraphMatcher& m,
                     ir::Node& div) {
  if (div.inputs.size() != 2 || div.outputs.size() != 1) return 0;
  ir::Node* sqrt = m.private_producer(div.inputs[1], "Sqrt");
  ir::Node* add = sqrt ? m.private_producer(sqrt->inputs[0], "Add") : nullptr;
  if (!add || add->inputs.size() != 2) return 0;
  const int var_side = m.scalar(add->inputs[1]) ? 0 : 1;
  const auto epsilon = m.scalar(add->inputs[1 - var_side]);
  ir::Node* var = m.private_producer(add->inputs[var_side], "ReduceMean");
  if (!epsilon || !var) return 0;
  const std::string d = div.inputs[0];
  ir::Node* square = m.private_producer(var->inputs[0], "Pow");
  if (square) {
    const auto two = m.scalar(square->inputs.size() == 2 ? square->inputs[1] : "");
    if (!two || *two != 2.f || square->inputs[0] != d) return 0;
  } else {
    square = m.private_producer(var->inputs[0], "Mul");
    if (!square || square->inputs.size() != 2 || square->inputs[0] != d || square->inputs[1] != d)
      return 0;
  }
  // d = Sub(x, mean) is read by the square and the Div only.
  ir::Node* sub_node = m.producer(d);
  if (!sub_node || m.reader_count(d) != 2 || passes::is_graph_output(g, d)) return 0;
  ir::Node& sub = *sub_node;
  if (sub.op_type != "Sub" || !sub.domain.empty() || sub.inputs.size() != 2) return 0;
  const std::string x = sub.inputs[0];
  ir::Node* mean = m.private_producer(sub.inputs[1], "ReduceMean");
  auto xi = shapes.values.find(x);
  if (!mean || mean->inputs.empty() || mean->inputs[0] != x || xi == shapes.values.end() ||
      !xi->second.rank_known || xi->second.type != ElementType::f32 || xi->second.dims.empty())
    return 0;
  const int64_t rank = static_cast<int64_t>(xi->second.dims.size());
  const int64_t axis = mean_axis(m, *mean, rank);
  // Over the last axis (transformers), or over the channels of an image (ConvNeXt).
  const bool channels = axis == 1 && rank >= 3;
  if ((axis != rank - 1 && !channels) || mean_axis(m, *var, rank) != axis) return 0;
  const int64_t width = xi->second.dims[axis];
  if (width <= 0) return 0;
  for (const ir::Node* n : {mean, &sub, square, var, add, sqrt}) m.remove(n);
  int absorbed = 6;
  ir::Node* last = &div;
  std::string gamma, beta;
  // Mul(gamma) then Add(beta), each optional.
  for (auto [op, param] : {std::pair{"Mul", &gamma}, std::pair{"Add", &beta}}) {
    ir::Node* next = m.sole_reader(last->outputs[0], op);
    *param = next ? axis_constant(g, *next, last->outputs[0], width, channels, rank) : "";
    if (param->empty()) continue;
    m.remove(last);
    last = next;
    ++absorbed;
  }
  if (gamma.empty()) {
    gamma = passes::fresh_constant_name(g, x + "_layer_norm_scale");
    Tensor ones = Tensor::uninitialized(ElementType::f32, {width});
    std::fill_n(ones.data_as<float>(), width, 1.f);
    g.constants[gamma] = std::move(ones);
  }
  std::vector<std::size_t> sources = m.take_absorbed_sources();
  sources.insert(sources.end(), last->sources.begin(), last->sources.end());
  const std::vector<std::string> outputs = last->outputs;
  *last = ir::Node{};
  last->name = "LayerNorm_" + outputs[0];
  last->inputs = {x, gamma, beta};
  last->outputs = outputs;
  last->sources = std::move(sources);
  if (channels) {
    last->op_type = "ChannelLayerNorm";
    last->domain = kCpuDomain;
  } else {
    last->op_type = "LayerNormalization";
    last->attributes["axis"].kind = ir::Attribute::Kind::i;
    last->attributes["axis"].i = -1;
  }
  set_f(*last, "epsilon", *epsilon);
  return absorbed;
}

}  // namespace

int fuse_layer_norms(ir::Graph& g, const ir::ShapeInference& shapes) {
  GraphMatcher m(g);
  int absorbed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& n = g.nodes[i];
    if (!m.removed(i) && n.op_type == "Div" && n.domain.empty())
      absorbed += match_layer_norm(g, shapes, m, n);
  }
  m.erase_removed();
  return absorbed;
}

int fuse_group_norms(ir::Graph& g, const ir::ShapeInference& shapes) {
  GraphMatcher m(g);
  int absorbed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (m.removed(i) || !g.nodes[i].domain.empty()) continue;
    if (g.nodes[i].op_type == "InstanceNormalization")
      absorbed += match_decomposed(g, shapes, m, g.nodes[i]);
    else if (g.nodes[i].op_type == "GroupNormalization")
      absorbed += match_group_normalization(g, shapes, m, g.nodes[i]);
  }
  m.erase_removed();
  return absorbed;
}

}  // namespace sinter::cpu
