// juice/experiments/ground_truth/sorting.hpp
//
// Ground-truth task family "sort": sort a short list of digits in ascending order,
//   prompt "s3142=", correct answer "1234".
// Lists have min_length..max_length digits and are never already sorted (so the task is never a
// copy). The low-quality answer is the list as given: the right digits in the wrong order, the
// answer of a demonstrator who copies instead of sorting.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/experiments/ground_truth/graded_credit.hpp"
#include "juice/experiments/ground_truth/task.hpp"

namespace juice::experiments::ground_truth {

class sorting_task {
public:
  explicit sorting_task(std::size_t min_length = 3, std::size_t max_length = 5) : lo_(min_length), hi_(max_length) {
    if (lo_ < 2 || hi_ < lo_ || hi_ > 16)
      throw invalid_argument("juice::ground_truth::sorting_task: lengths must satisfy 2 <= min_length <= max_length <= 16 (got " +
                             std::to_string(lo_) + ", " + std::to_string(hi_) + ").");
  }

  static std::string_view name() { return "sort"; }

  [[nodiscard]] task_item draw(rng& g) const {
    const std::size_t n = lo_ + static_cast<std::size_t>(g.below(hi_ - lo_ + 1));
    std::string digits;
    do {  // rejection: a sorted list would make the copy correct
      digits.clear();
      for (std::size_t i = 0; i < n; ++i) digits.push_back(static_cast<char>('0' + g.below(10)));
    } while (std::is_sorted(digits.begin(), digits.end()));
    std::string prompt = "s" + digits + "=";
    return {prompt, answer(prompt)};
  }

  [[nodiscard]] bool owns(std::string_view x) const { return list_of(x).has_value(); }

  [[nodiscard]] std::string answer(std::string_view x) const {
    std::string digits = checked(x);
    std::sort(digits.begin(), digits.end());
    return digits;
  }

  [[nodiscard]] std::string low_quality(std::string_view x, rng&) const {
    std::string copy = checked(x);
    if (std::is_sorted(copy.begin(), copy.end()))  // a prompt not drawn here: reverse instead
      std::reverse(copy.begin(), copy.end());
    if (copy == answer(x)) copy.push_back(copy.back());  // all digits equal: a wrong length
    return copy;
  }

  [[nodiscard]] double reward(std::string_view x, std::string_view y) const { return graded_credit(answer(x), y); }

private:
  // The digit list of "s<digits>=", or nothing.
  static std::optional<std::string> list_of(std::string_view x) {
    if (x.size() < 3 || x.front() != 's' || x.back() != '=') return std::nullopt;
    std::string digits(x.substr(1, x.size() - 2));
    for (char c : digits)
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    return digits;
  }

  static std::string checked(std::string_view x) {
    auto d = list_of(x);
    if (!d) throw invalid_argument("juice::ground_truth::sorting_task: '" + std::string(x) + "' is not a sorting prompt ('s' digits '=').");
    return *d;
  }

  std::size_t lo_, hi_;
};

static_assert(TaskFamily<sorting_task>);

}  // namespace juice::experiments::ground_truth
