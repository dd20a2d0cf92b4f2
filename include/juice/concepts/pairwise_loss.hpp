// juice/concepts/pairwise_loss.hpp
//
// The PairwiseLoss concept: a loss h(z) of a margin z between a preferred and a dispreferred
// response (IRFT's implicit-reward margin, RFT's reward difference).
//
// L satisfies PairwiseLoss when:
//   1. L::name is a short static name ("sigmoid", "hinge", ...);
//   2. L::value(z) returns h(z) and L::derivative(z) returns h'(z) (a subgradient at kinks), both
//      as double for a double z.
// Deliberately not required: convexity, smoothness, or h'(0) < 0 (algorithms document what they
// need of it).
#pragma once

#include <concepts>
#include <string_view>

namespace juice {

template <class L>
concept PairwiseLoss = requires(double z) {
  // 1.
  { L::name } -> std::convertible_to<std::string_view>;
  // 2.
  { L::value(z) } -> std::same_as<double>;
  { L::derivative(z) } -> std::same_as<double>;
};

}  // namespace juice
