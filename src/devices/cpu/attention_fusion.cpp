#include "devices/cpu/attention_fusion.hpp"

#include <algorithm>

#include "devices/cpu/conv_fusion.hpp"
#include "devices/cpu/graph_matcher.hpp"

namespace sinter::cpu {

namespace {

// Rank of an f32 value when known, else -1.
int64_t f32_rank(const ir::ShapeInference& shapes, const std::string& value) {
  auto it = shapes.values.find(value);
  if (it == shapes.values.end() || !it->second.rank_known || it->second.type != ElementType::f32)
    return -1;
  return static_cast<int64_t>(it->second.dims.size());
}

bool plain_matmul(const ir::Node& n) {
  return n.op_type == "MatMul" && n.domain.empty() && n.inputs.size() == 2 && n.outputs.size() == 1;
}

// The scores below the Softmax (and mask): MatMul(Q, K), optionally scaled by a scalar constant.
struct Scores {
  ir::Node* matmul = nullptr;
  ir::Node* scaling = nullptr;  // Mul or Div, or none
  float scale = 1.f;
};

// Looks (without changing anything) for the scaled product that makes `value`.
Scores find_scores(const ir::ShapeInference& shapes, GraphMatcher& m, const std::string& value) {
  Scores s;
  std::string below = value;
  if (ir::Node* mul = m.private_producer(value, "Mul"); mul && mul->inputs.size() == 2) {
    for (int side = 0; side < 2 && !s.scaling; ++side) {
      auto c = m.scalar(mul->inputs[1 - side]);
      if (c && m.private_producer(mul->inputs[side], "MatMul")) {
        s = {nullptr, mul, *c};
        below = mul->inputs[side];
      }
    }
  } else if (ir::Node* div = m.private_producer(value, "Div"); div && div->inputs.size() == 2) {
    auto c = m.scalar(div->inputs[1]);
    if (c && *c != 0.f && m.private_producer(div->inputs[0], "MatMul")) {
      s = {nullptr, div, 1.f / *c};
      below = div->inputs[0];
    }
  }
  ir::Node* first = m.private_producer(below, "MatMul");
  if (first && plain_matmul(*first) && f32_rank(shapes, first->inputs[0]) >= 2 &&
      f32_rank(shapes, first->inputs[1]) >= 2)
    s.matmul = first;
  return s;
}

// The perm of a Transpose node (its default reverses the axes); empty if `rank` does not fit.
std::vector<int64_t> perm_of(const ir::Node& transpose, int64_t rank) {
  std::vector<int64_t> perm;
  if (const ir::Attribute* a = transpose.find("perm")) {
    perm = a->ints;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  std::vector<bool> seen(static_cast<std::size_t>(std::max<int64_t>(rank, 0)), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) return {};
    seen[p] = true;
  }
  return static_cast<int64_t>(perm.size()) == rank && rank >= 2 ? perm : std::vector<int64_t>{};
}

// Splitting heads (Transpose of Q, K, V) before the attention: a Transpose only the attention
// reads, whose perm leaves one of the operand's last two axes the data's last (sgemm then reads
// the operand with a leading dimension), is absorbed; the node reads the Transpose's input and
// `perm_attr` records the perm. Returns the value the node reads.
std::string absorb_input_transpose(const ir::ShapeInference& shapes, GraphMatcher& m,
                                   const std::string& value, ir::Node& attention,
                                   const char* perm_attr) {
  ir::Node* t = m.private_producer(value, "Transpose");
  if (!t || t->inputs.size() != 1) return value;
  const int64_t rank = f32_rank(shapes, value);
  const std::vector<int64_t> perm = perm_of(*t, rank);
  if (perm.empty() || (perm[rank - 1] != rank - 1 && perm[rank - 2] != rank - 1)) return value;
  attention.attributes[perm_attr].kind = ir::Attribute::Kind::ints;
  attention.attributes[perm_attr].ints = perm;
  m.remove(t);
  return t->inputs[0];
}

// From a Softmax: the chain back to the first MatMul and on to the second; absorbed count.
int match_attention(ir::Graph& g, const ir::ShapeInference& shapes, GraphMatcher& m,
                    ir::Node& softmax) {
  if (softmax.inputs.size() != 1 || softmax.outputs.size() != 1) return 0;
  const int64_t rank = f32_rank(shapes, softmax.inputs[0]);
  if (rank < 2) return 0;
  // Before opset 13 the default axis is 1 and the input is seen as 2-D from it; the last axis
  // means the same in both.
  int64_t axis = softmax.find("axis") ? softmax.find("axis")->i : (g.opset("") >= 13 ? -1 : 1);
  if (axis < 0) axis += rank;
  if (axis != rank - 1) return 0;
  ir::Node* second = m.sole_reader(softmax.outputs[0], "MatMul");
  if (!second || !plain_matmul(*second) || second->inputs[0] != softmax.outputs[0] ||
      f32_rank(shapes, second->inputs[1]) < 2)
    return 0;
  // Softmax(scores) or Softmax(Add(scores, mask)) with the mask on either side.
  Scores scores = find_scores(shapes, m, softmax.inputs[0]);
  ir::Node* add = nullptr;
  std::string mask;
  if (!scores.matmul) {
    add = m.private_producer(softmax.inputs[0], "Add");
    if (!add || add->inputs.size() != 2) return 0;
    for (int side = 0; side < 2 && !scores.matmul; ++side) {
      if (f32_rank(shapes, add->inputs[1 - side]) < 0) continue;
      scores = find_scores(shapes, m, add->inputs[side]);
      mask = add->inputs[1 - side];
    }
    if (!scores.matmul) return 0;
  }
  // The fused node takes the second MatMul's place (and output); the time is reported on the
  // first MatMul (first source).
  int absorbed = 2;
  m.remove(scores.matmul);
  for (ir::Node* n : {scores.scaling, add}) {
    if (!n) continue;
    m.remove(n);
    ++absorbed;
  }
  m.remove(&softmax);
  ir::Node fused;
  fused.op_type = "Attention";
  fused.domain = kCpuDomain;
  fused.attributes["scale"].kind = ir::Attribute::Kind::f;
  fused.attributes["scale"].f = scores.scale;
  fused.inputs = {absorb_input_transpose(shapes, m, scores.matmul->inputs[0], fused, "q_perm"),
                  absorb_input_transpose(shapes, m, scores.matmul->inputs[1], fused, "k_perm"),
                  absorb_input_transpose(shapes, m, second->inputs[1], fused, "v_perm"), mask};
  absorbed += static_cast<int>(fused.attributes.size()) - 1;
  // Merging heads (a Transpose of the result that keeps its last axis last): the node writes
  // the Transpose's output directly.
  std::string out = second->outputs[0];
  if (ir::Node* t = m.sole_reader(out, "Transpose"); t && t->outputs.size() == 1) {
    const std::vector<int64_t> perm = perm_of(*t, f32_rank(shapes, out));
    if (!perm.empty() && perm.back() == static_cast<int64_t>(perm.size()) - 1) {
      fused.attributes["out_perm"].kind = ir::Attribute::Kind::ints;
      fused.attributes["out_perm"].ints = perm;
      out = t->outputs[0];
      m.remove(t);
      ++absorbed;
    }
  }
  fused.name = "Attention_" + out;
  fused.outputs = {out};
  fused.sources = m.take_absorbed_sources();
  fused.sources.insert(fused.sources.end(), second->sources.begin(), second->sources.end());
  *second = std::move(fused);
  return absorbed;
}

}  // namespace

int fuse_attention(ir::Graph& g, const ir::ShapeInference& shapes) {
  GraphMatcher m(g);
  int absorbed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& n = g.nodes[i];
    if (!m.removed(i) && n.op_type == "Softmax" && n.domain.empty())
      absorbed += match_attention(g, shapes, m, n);
  }
  m.erase_removed();
  return absorbed;
}

}  // namespace sinter::cpu
