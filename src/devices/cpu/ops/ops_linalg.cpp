// Linear algebra beyond matrix products: Einsum (any equation, ellipsis broadcasting, diagonals)
// and Det (LU with partial pivoting).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "devices/cpu/dispatch.hpp"
#include "devices/cpu/kernel_registry.hpp"
#include "devices/cpu/ops/linalg.hpp"
#include "devices/cpu/tensor_util.hpp"
#include "ir/einsum_equation.hpp"

namespace sinter::cpu {

namespace {

// Einsum labels are ints: letters map to their character code, ellipsis dimensions to
// kEllipsisBase + j (j counted from the left of the broadcast ellipsis shape).
constexpr int kEllipsisBase = 1000;

struct EinsumTerm {
  std::vector<int> labels;  // one per dimension of the operand
};

// Parses one term ("ab...c") of an operand of rank `rank` (or -1 for the output, whose ellipsis
// expands to `ellipsis_rank` dimensions).
EinsumTerm parse_term(const OpContext& ctx, const std::string& text, int64_t rank,
                      int64_t ellipsis_rank) {
  EinsumTerm term;
  const size_t dots = text.find("...");
  int64_t letters = 0;
  for (char ch : text)
    if (std::isalpha(static_cast<unsigned char>(ch))) ++letters;
  const int64_t own_ellipsis =
      dots == std::string::npos ? 0 : (rank < 0 ? ellipsis_rank : rank - letters);
  ctx.check(own_ellipsis >= 0 && (rank < 0 || dots != std::string::npos || letters == rank),
            "equation term '{}' does not fit an operand of rank {}", text, rank);
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (i == dots) {
      for (int64_t j = 0; j < own_ellipsis; ++j)
        term.labels.push_back(kEllipsisBase + static_cast<int>(ellipsis_rank - own_ellipsis + j));
      i += 2;
    } else if (std::isalpha(static_cast<unsigned char>(ch))) {
      term.labels.push_back(ch);
    } else if (ch != ' ') {
      ctx.fail(ErrorCategory::invalid_argument, "unexpected character '{}' in equation", ch);
    }
  }
  return term;
}

// Two f32 operands without diagonals, broadcasting or labels summed within one operand: the
// equation is a batched matrix product. Labels in both operands and the output are the batch,
// those in both operands only are summed (k), the others are rows (m, from the first operand)
// or columns (n, from the second). Operands are transposed to [batch, m, k] and [batch, k, n],
// multiplied with sgemm, and the [batch, m, n] result transposed to the output's order.
// Returns false (nothing written) where the equation does not have that form.
bool einsum_as_matrix_product(OpContext& ctx, const std::vector<EinsumTerm>& terms,
                              const EinsumTerm& out) {
  if (terms.size() != 2 || ctx.input(0).element_type() != ElementType::f32 ||
      ctx.input(1).element_type() != ElementType::f32)
    return false;
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  auto position = [](const std::vector<int>& labels, int label) -> int64_t {
    const auto it = std::find(labels.begin(), labels.end(), label);
    return it == labels.end() ? -1 : it - labels.begin();
  };
  for (const auto* labels : {&terms[0].labels, &terms[1].labels, &out.labels})
    for (size_t i = 0; i < labels->size(); ++i)
      if (position(*labels, (*labels)[i]) != static_cast<int64_t>(i)) return false;  // diagonal
  const auto& la = terms[0].labels;
  const auto& lb = terms[1].labels;
  std::vector<int> batch, rows, cols, summed;
  int64_t nb = 1, m = 1, n = 1, k = 1;
  for (size_t i = 0; i < la.size(); ++i) {
    const int64_t in_b = position(lb, la[i]);
    const bool in_out = position(out.labels, la[i]) >= 0;
    if (in_b >= 0 && a.shape()[i] != b.shape()[in_b]) return false;  // broadcast
    if (in_b >= 0 && in_out) {
      batch.push_back(la[i]);
      nb *= a.shape()[i];
    } else if (in_b >= 0) {
      summed.push_back(la[i]);
      k *= a.shape()[i];
    } else if (in_out) {
      rows.push_back(la[i]);
      m *= a.shape()[i];
    } else {
      return false;  // summed over the first operand alone
    }
  }
  for (size_t i = 0; i < lb.size(); ++i) {
    if (position(la, lb[i]) >= 0) continue;
    if (position(out.labels, lb[i]) < 0) return false;  // summed over the second alone
    cols.push_back(lb[i]);
    n *= b.shape()[i];
  }
  // Operand in the order `first, second, third` of label groups, as a contiguous tensor.
  auto arranged = [&](const Tensor& t, const std::vector<int>& labels,
                      std::initializer_list<const std::vector<int>*> groups) {
    std::vector<int64_t> perm;
    for (const auto* g : groups)
      for (int label : *g) perm.push_back(position(labels, label));
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == int64_t(i);
    return identity ? t : transpose_tensor(ctx, t, perm);
  };
  const Tensor a2 = arranged(a, la, {&batch, &rows, &summed});
  const Tensor b2 = arranged(b, lb, {&batch, &summed, &cols});
  std::vector<int> product_labels = batch;
  product_labels.insert(product_labels.end(), rows.begin(), rows.end());
  product_labels.insert(product_labels.end(), cols.begin(), cols.end());
  Shape product_shape;
  for (int label : product_labels) {
    const int64_t ia = position(la, label);
    product_shape.push_back(ia >= 0 ? a.shape()[ia] : b.shape()[position(lb, label)]);
  }
  Tensor product(ElementType::f32, product_shape);  // zeros: also the answer when k == 0
  if (m > 0 && n > 0 && k > 0) {
    for (int64_t i = 0; i < nb; ++i)
      gemm_f32(false, false, m, n, k, 1.0f, a2.data_as<float>() + i * m * k, k,
               b2.data_as<float>() + i * k * n, n, 0.0f, product.data_as<float>() + i * m * n, n);
  }
  ctx.set_output(0, arranged(product, product_labels, {&out.labels}));
  return true;
}

void op_einsum(OpContext& ctx) {
  const std::string equation = ctx.attr_s("equation", "");
  const ir::EinsumEquation parsed = ir::parse_einsum(equation);
  const std::vector<std::string>& texts = parsed.operands;
  ctx.check(texts.size() == ctx.input_count(), "equation '{}' has {} operands, the node {}",
            equation, texts.size(), ctx.input_count());

  // Ellipsis rank: the largest of the operands'.
  int64_t ellipsis_rank = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].find("...") == std::string::npos) continue;
    int64_t letters = 0;
    for (char ch : texts[i])
      if (std::isalpha(static_cast<unsigned char>(ch))) ++letters;
    ellipsis_rank = std::max(ellipsis_rank, ctx.input(i).rank() - letters);
  }
  std::vector<EinsumTerm> terms;
  std::map<int, int64_t> sizes;
  for (size_t i = 0; i < texts.size(); ++i) {
    const Tensor& t = ctx.input(i);
    terms.push_back(parse_term(ctx, texts[i], t.rank(), ellipsis_rank));
    for (size_t d = 0; d < terms[i].labels.size(); ++d) {
      const int label = terms[i].labels[d];
      const int64_t n = t.shape()[d];
      auto [it, fresh] = sizes.emplace(label, n);
      if (!fresh && it->second != n) {
        const bool broadcast = label >= kEllipsisBase && (it->second == 1 || n == 1);
        ctx.check(broadcast, "label '{}' has sizes {} and {}", char(label), it->second, n);
        it->second = std::max(it->second, n);
      }
    }
  }
  const EinsumTerm out = parse_term(ctx, parsed.output, -1, ellipsis_rank);
  for (int label : out.labels)
    ctx.check(sizes.count(label) > 0, "output label '{}' is not in any operand", char(label));

  if (einsum_as_matrix_product(ctx, terms, out)) return;

  // Any other equation: one loop per label, output labels first, then the summed ones.
  std::vector<int> loop = out.labels;
  for (const auto& [label, n] : sizes)
    if (std::find(loop.begin(), loop.end(), label) == loop.end()) loop.push_back(label);
  std::vector<int64_t> extent;
  for (int label : loop) extent.push_back(sizes[label]);
  // Stride of each loop label in each operand (summed for repeated labels: diagonals; zero for
  // broadcast dimensions of size 1).
  std::vector<std::vector<int64_t>> strides(terms.size(), std::vector<int64_t>(loop.size(), 0));
  std::vector<Tensor> operands;
  for (size_t i = 0; i < terms.size(); ++i) {
    operands.push_back(convert_tensor(ctx, ctx.input(i), ElementType::f64));
    const auto s = strides_of(operands[i].shape());
    for (size_t d = 0; d < terms[i].labels.size(); ++d) {
      const size_t pos = std::find(loop.begin(), loop.end(), terms[i].labels[d]) - loop.begin();
      if (operands[i].shape()[d] != 1 || extent[pos] == 1) strides[i][pos] += s[d];
    }
  }
  Shape out_shape;
  for (int label : out.labels) out_shape.push_back(sizes[label]);
  Tensor result(ElementType::f64, out_shape);
  double* po = result.data_as<double>();
  const int64_t out_count = result.element_count();
  int64_t inner = 1;
  for (size_t d = out.labels.size(); d < loop.size(); ++d) inner *= extent[d];

  std::vector<int64_t> idx(loop.size(), 0);
  for (int64_t o = 0; o < out_count; ++o) {
    double sum = 0;
    for (int64_t r = 0; r < inner; ++r) {
      double product = 1;
      for (size_t i = 0; i < operands.size(); ++i) {
        int64_t offset = 0;
        for (size_t d = 0; d < loop.size(); ++d) offset += idx[d] * strides[i][d];
        product *= operands[i].data_as<double>()[offset];
      }
      sum += product;
      // Next index, innermost label last.
      for (size_t d = loop.size(); d-- > 0;) {
        if (++idx[d] < extent[d]) break;
        idx[d] = 0;
      }
    }
    po[o] = sum;
    if (inner == 0) {  // nothing summed; still advance the output index
      for (size_t d = out.labels.size(); d-- > 0;) {
        if (++idx[d] < extent[d]) break;
        idx[d] = 0;
      }
    }
  }
  ctx.set_output(0, convert_tensor(ctx, result, ctx.input(0).element_type()));
}

// Determinant of each trailing M x M matrix, by LU decomposition with partial pivoting.
void op_det(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.check(x.rank() >= 2 && x.shape()[x.rank() - 1] == x.shape()[x.rank() - 2],
            "input must end in a square matrix, got {}", to_string(x.shape()));
  const int64_t m = x.shape().back();
  const Shape out_shape(x.shape().begin(), x.shape().end() - 2);
  const Tensor xd = convert_tensor(ctx, x, ElementType::f64);
  Tensor out(ElementType::f64, out_shape);
  const int64_t count = element_count(out_shape);
  std::vector<double> a(m * m);
  for (int64_t k = 0; k < count; ++k) {
    std::copy(xd.data_as<double>() + k * m * m, xd.data_as<double>() + (k + 1) * m * m, a.begin());
    double det = 1;
    for (int64_t c = 0; c < m && det != 0; ++c) {
      int64_t pivot = c;
      for (int64_t r = c + 1; r < m; ++r)
        if (std::fabs(a[r * m + c]) > std::fabs(a[pivot * m + c])) pivot = r;
      if (a[pivot * m + c] == 0) {
        det = 0;
        break;
      }
      if (pivot != c) {
        for (int64_t j = 0; j < m; ++j) std::swap(a[c * m + j], a[pivot * m + j]);
        det = -det;
      }
      det *= a[c * m + c];
      for (int64_t r = c + 1; r < m; ++r) {
        const double f = a[r * m + c] / a[c * m + c];
        for (int64_t j = c; j < m; ++j) a[r * m + j] -= f * a[c * m + j];
      }
    }
    out.data_as<double>()[k] = det;
  }
  ctx.set_output(0, convert_tensor(ctx, out, x.element_type()));
}

}  // namespace

void register_linalg_ops(KernelRegistry& r) {
  r.add("Einsum", op_einsum);
  r.add("Det", op_det);
}

}  // namespace sinter::cpu
