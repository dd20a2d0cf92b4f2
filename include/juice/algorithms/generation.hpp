// juice/algorithms/generation.hpp
//
// How the algorithms obtain responses y~ ~ pi(.|x): drawn (juice::sampled) or, for policies that can
// list their responses, enumerated with their probabilities (juice::exact). Both return a weighted
// batch, so the same algorithm code computes a Monte-Carlo estimate or the exact expectation.
#pragma once

#include <cstddef>
#include <type_traits>

#include "juice/concepts/policy.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"

namespace juice {

// Draw `per_prompt` responses per prompt from the policy (seeded through the algorithm's rng).
struct sampled {
  std::size_t per_prompt = 1;
};

// Enumerate every response with weight pi(y|x): exact expectations. Needs an EnumerablePolicy.
struct exact {};

template <class M>
inline constexpr bool is_generation_mode_v = std::is_same_v<M, sampled> || std::is_same_v<M, exact>;

template <Policy P, class Mode>
sequence_batch generate(const P& policy, const sequence_batch& prompts, const Mode& mode, rng& g) {
  static_assert(is_generation_mode_v<Mode>, "juice::generate: the mode must be juice::sampled or juice::exact.");
  if constexpr (std::is_same_v<Mode, exact>) {
    static_assert(EnumerablePolicy<P>,
                  "juice::exact: exact expectations need a policy that satisfies juice::EnumerablePolicy "
                  "(e.g. a tabular policy); use juice::sampled{} for this model; see docs/concepts.md#enumerablepolicy");
    return policy.enumerate(prompts);
  } else {
    if (mode.per_prompt == 0) throw invalid_argument("juice::sampled: per_prompt must be at least 1.");
    return policy.sample(prompts, mode.per_prompt, g);
  }
}

}  // namespace juice
