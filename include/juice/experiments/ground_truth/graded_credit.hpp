// juice/experiments/ground_truth/graded_credit.hpp
//
// The graded true reward every ground-truth task family shares: the fraction of positions at which
// a response agrees with the correct answer, counted over the longer of the two,
//   credit(a, y) = #{i < min(|a|, |y|) : a_i = y_i} / max(|a|, |y|),
// so an exact match scores 1, a response right in half its characters about 1/2, and a response
// that is too long or too short pays for every missing or extra character. Partial credit makes win
// rates between two imperfect policies informative (an all-or-nothing reward would tie almost
// every comparison between two weak models).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace juice::experiments::ground_truth {

inline double graded_credit(std::string_view answer, std::string_view response) {
  const std::size_t longer = std::max(answer.size(), response.size());
  if (longer == 0) return 1.0;  // both empty: the empty answer given exactly
  const std::size_t shorter = std::min(answer.size(), response.size());
  std::size_t agree = 0;
  for (std::size_t i = 0; i < shorter; ++i) agree += answer[i] == response[i] ? 1 : 0;
  return static_cast<double>(agree) / static_cast<double>(longer);
}

}  // namespace juice::experiments::ground_truth
