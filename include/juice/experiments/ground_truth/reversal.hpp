// juice/experiments/ground_truth/reversal.hpp
//
// Ground-truth task family "reverse": reverse a short string of letters,
//   prompt "rabcd=", correct answer "dcba".
// Strings have min_length..max_length letters from the first `alphabet` lower-case letters and are
// never palindromes (so the task is never a copy). The low-quality answer is the string as given:
// the copy a careless demonstrator writes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/experiments/ground_truth/graded_credit.hpp"
#include "juice/experiments/ground_truth/task.hpp"

namespace juice::experiments::ground_truth {

class reversal_task {
public:
  explicit reversal_task(std::size_t min_length = 3, std::size_t max_length = 5, std::size_t alphabet = 8)
      : lo_(min_length), hi_(max_length), alphabet_(alphabet) {
    if (lo_ < 2 || hi_ < lo_ || hi_ > 16 || alphabet_ < 2 || alphabet_ > 26)
      throw invalid_argument("juice::ground_truth::reversal_task: need 2 <= min_length <= max_length <= 16 and an alphabet of 2..26 letters (got " +
                             std::to_string(lo_) + ", " + std::to_string(hi_) + ", " + std::to_string(alphabet_) + ").");
  }

  static std::string_view name() { return "reverse"; }

  [[nodiscard]] task_item draw(rng& g) const {
    const std::size_t n = lo_ + static_cast<std::size_t>(g.below(hi_ - lo_ + 1));
    std::string s;
    do {  // rejection: a palindrome would make the copy correct
      s.clear();
      for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + g.below(alphabet_)));
    } while (std::equal(s.begin(), s.end(), s.rbegin()));
    std::string prompt = "r" + s + "=";
    return {prompt, answer(prompt)};
  }

  [[nodiscard]] bool owns(std::string_view x) const { return text_of(x).has_value(); }

  [[nodiscard]] std::string answer(std::string_view x) const {
    std::string s = checked(x);
    std::reverse(s.begin(), s.end());
    return s;
  }

  [[nodiscard]] std::string low_quality(std::string_view x, rng&) const {
    std::string copy = checked(x);
    if (copy == answer(x)) copy.push_back(copy.back() == 'a' ? 'b' : 'a');  // a palindrome not drawn here
    return copy;
  }

  [[nodiscard]] double reward(std::string_view x, std::string_view y) const { return graded_credit(answer(x), y); }

private:
  static std::optional<std::string> text_of(std::string_view x) {
    if (x.size() < 3 || x.front() != 'r' || x.back() != '=') return std::nullopt;
    std::string s(x.substr(1, x.size() - 2));
    for (char c : s)
      if (c < 'a' || c > 'z') return std::nullopt;
    return s;
  }

  static std::string checked(std::string_view x) {
    auto s = text_of(x);
    if (!s) throw invalid_argument("juice::ground_truth::reversal_task: '" + std::string(x) + "' is not a reversal prompt ('r' letters '=').");
    return *s;
  }

  std::size_t lo_, hi_, alphabet_;
};

static_assert(TaskFamily<reversal_task>);

}  // namespace juice::experiments::ground_truth
