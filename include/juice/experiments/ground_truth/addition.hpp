// juice/experiments/ground_truth/addition.hpp
//
// Ground-truth task family "add": integer addition of two operands in [0, max_operand],
//   prompt "37+58=", correct answer "95".
// The low-quality answer is a random number in [0, 2 max_operand] other than the sum: an answer of
// the right form and size that does no arithmetic, with partial credit only where its digits happen
// to agree.
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/experiments/ground_truth/graded_credit.hpp"
#include "juice/experiments/ground_truth/task.hpp"

namespace juice::experiments::ground_truth {

class addition_task {
public:
  // Operands are drawn uniformly from [0, max_operand]; at least 1 (so a wrong answer exists).
  explicit addition_task(unsigned max_operand = 99) : max_(max_operand) {
    if (max_ < 1 || max_ > 999999) throw invalid_argument("juice::ground_truth::addition_task: max_operand must lie in [1, 999999] (got " + std::to_string(max_) + ").");
  }

  static std::string_view name() { return "add"; }

  [[nodiscard]] task_item draw(rng& g) const {
    const auto a = g.below(max_ + 1ULL), b = g.below(max_ + 1ULL);
    std::string prompt = std::to_string(a) + "+" + std::to_string(b) + "=";
    return {prompt, std::to_string(a + b)};
  }

  [[nodiscard]] bool owns(std::string_view x) const { return parse(x, nullptr, nullptr); }

  [[nodiscard]] std::string answer(std::string_view x) const {
    unsigned long long a = 0, b = 0;
    if (!parse(x, &a, &b))
      throw invalid_argument("juice::ground_truth::addition_task: '" + std::string(x) + "' is not an addition prompt (digits '+' digits '=').");
    return std::to_string(a + b);
  }

  [[nodiscard]] std::string low_quality(std::string_view x, rng& g) const {
    const std::string right = answer(x);
    for (;;) {
      std::string wrong = std::to_string(g.below(2ULL * max_ + 1));
      if (wrong != right) return wrong;
    }
  }

  [[nodiscard]] double reward(std::string_view x, std::string_view y) const { return graded_credit(answer(x), y); }

private:
  // "<digits>+<digits>=" with 1..6 digits per operand; the operands into *a, *b when given.
  static bool parse(std::string_view x, unsigned long long* a, unsigned long long* b) {
    const auto plus = x.find('+');
    if (plus == std::string_view::npos || x.empty() || x.back() != '=') return false;
    auto number = [](std::string_view s, unsigned long long* out) {
      if (s.empty() || s.size() > 6) return false;
      unsigned long long v = 0;
      for (char c : s) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        v = v * 10 + static_cast<unsigned long long>(c - '0');
      }
      if (out) *out = v;
      return true;
    };
    return number(x.substr(0, plus), a) && number(x.substr(plus + 1, x.size() - plus - 2), b);
  }

  unsigned max_;
};

static_assert(TaskFamily<addition_task>);

}  // namespace juice::experiments::ground_truth
