// GPU Einsum for two operands without ellipsis: every subscript is a batch letter (both inputs
// and the output), a contracted one (both inputs only) or a free one (one input and the output).
// Each input is permuted to [batch, free, contracted] / [batch, contracted, free], one batched
// matmul multiplies them, and the result is permuted to the output's subscript order.
#include <algorithm>

#include "devices/gpu/gpu_op.hpp"
#include "ir/einsum_equation.hpp"

namespace sinter::gpu {

namespace {

struct EinsumTerms {
  std::string a, b, out;
};

// The two input terms and the output term ("ij,jk->ik"). Empty `a` when the equation does not
// have two operands.
EinsumTerms parse(const std::string& equation) {
  const ir::EinsumEquation eq = ir::parse_einsum(equation);
  if (eq.operands.size() != 2) return {};
  return {eq.operands[0], eq.operands[1], eq.output};
}

bool has(const std::string& s, char c) {
  return s.find(c) != std::string::npos;
}

bool unique_letters(const std::string& s) {
  for (char c : s)
    if (std::count(s.begin(), s.end(), c) != 1 || !std::isalpha(static_cast<unsigned char>(c)))
      return false;
  return true;
}

std::string einsum_check(const ir::Node& node, const ir::ShapeInference&) {
  if (node.inputs.size() != 2) return "only two-operand equations are implemented";
  const EinsumTerms t = parse(node.attr_string("equation", ""));
  if (t.a.empty() || t.b.empty() || !unique_letters(t.a) || !unique_letters(t.b) ||
      !unique_letters(t.out))
    return "only equations without ellipsis or repeated subscripts are implemented";
  for (char c : t.a + t.b)
    if (!has(t.out, c) && !(has(t.a, c) && has(t.b, c)))
      return std::string("summing subscript '") + c + "' of one operand is not implemented";
  for (char c : t.out)
    if (!has(t.a, c) && !has(t.b, c)) return std::string("output subscript '") + c + "' is unknown";
  return "";
}

// Positions in `term` of the letters of `order`, and their extents.
std::vector<int64_t> positions(const std::string& term, const std::string& order) {
  std::vector<int64_t> p;
  for (char c : order) p.push_back(static_cast<int64_t>(term.find(c)));
  return p;
}

GTensor permuted(GpuOpContext& ctx, const GTensor& x, const std::vector<int64_t>& perm) {
  GTensor y{x.type, {}, nullptr};
  for (int64_t p : perm) y.shape.push_back(x.shape[p]);
  y.buf = ctx.cl.allocate(y.bytes());
  permute_into(ctx, x, perm, y);
  return y;
}

void einsum(GpuOpContext& ctx) {
  if (const std::string why = einsum_check(ctx.node, {}); !why.empty()) ctx.fail("{}", why);
  const EinsumTerms t = parse(ctx.node.attr_string("equation", ""));
  const GTensor &a = ctx.input(0), &b = ctx.input(1);
  std::string batch, left, right, contracted;
  for (char c : t.out) (has(t.a, c) && has(t.b, c) ? batch : has(t.a, c) ? left : right) += c;
  for (char c : t.a)
    if (has(t.b, c) && !has(t.out, c)) contracted += c;
  auto extent = [&](char c) { return has(t.a, c) ? a.shape[t.a.find(c)] : b.shape[t.b.find(c)]; };
  auto product = [&](const std::string& letters) {
    int64_t n = 1;
    for (char c : letters) n *= extent(c);
    return n;
  };
  for (char c : batch + contracted)
    if (a.shape[t.a.find(c)] != b.shape[t.b.find(c)])
      ctx.fail("subscript '{}' has extent {} in one operand and {} in the other", c,
               a.shape[t.a.find(c)], b.shape[t.b.find(c)]);
  const GTensor pa = permuted(ctx, a, positions(t.a, batch + left + contracted));
  const GTensor pb = permuted(ctx, b, positions(t.b, batch + contracted + right));
  // The product comes out ordered batch + left + right; the output wants t.out's order.
  const std::string produced = batch + left + right;
  GTensor prod{a.type, {}, nullptr};
  for (char c : produced) prod.shape.push_back(extent(c));
  prod.buf = ctx.cl.allocate(prod.bytes());
  batched_matmul(ctx, pa, pb, prod, product(batch), product(left), product(contracted),
                 product(right));
  GTensor& y = ctx.allocate_output(0);
  permute_into(ctx, prod, positions(produced, t.out), y);
}

}  // namespace

void add_einsum_op(GpuOpTable& t) {
  t["Einsum"] = {einsum, "OpenCL matmul_f32 between strided copies", kFloatOnly, einsum_check};
}

}  // namespace sinter::gpu
