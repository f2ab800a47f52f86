#include "ir/einsum_equation.hpp"

#include <cctype>
#include <map>

namespace sinter::ir {

EinsumEquation parse_einsum(const std::string& equation) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  EinsumEquation e;
  const auto arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  for (std::size_t start = 0;;) {
    const std::size_t comma = lhs.find(',', start);
    e.operands.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (arrow != std::string::npos) {
    e.output = eq.substr(arrow + 2);
    e.explicit_output = true;
    return e;
  }
  std::map<char, int> uses;
  bool ellipsis = false;
  for (const auto& term : e.operands) {
    ellipsis = ellipsis || term.find("...") != std::string::npos;
    for (char c : term)
      if (std::isalpha(static_cast<unsigned char>(c))) ++uses[c];
  }
  if (ellipsis) e.output = "...";
  for (const auto& [c, n] : uses)
    if (n == 1) e.output += c;
  return e;
}

}  // namespace sinter::ir
