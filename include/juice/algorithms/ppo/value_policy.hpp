// juice/algorithms/ppo/value_policy.hpp
//
// The ValuePolicy concept: a juice::Policy with a value head, as PPO needs it.
//
// P satisfies ValuePolicy when (S = P::scalar_type):
//   1. P satisfies juice::Policy;
//   2. p.logprobs_and_values(batch) returns a pair of token_values<S>: the per-token log-probs (as
//      logprobs(batch)) and V(s_t), the value of the state before each response token, from one
//      forward pass;
//   3. p.backward(batch, &logp_weights, &value_weights), called after logprobs_and_values(batch),
//      adds d/dtheta sum (logp_weights .* logp + value_weights .* values); either pointer may be null.
// Deliberately not required: a separate value network, or any particular sharing of parameters.
#pragma once

#include <concepts>
#include <utility>

#include "juice/concepts/policy.hpp"

namespace juice {

template <class P>
concept ValuePolicy =
    // 1.
    Policy<P> &&
    requires(P& p, const sequence_batch& batch, const token_values<typename P::scalar_type>* w) {
  // 2.
  { p.logprobs_and_values(batch) } -> std::same_as<std::pair<token_values<typename P::scalar_type>,
                                                             token_values<typename P::scalar_type>>>;
  // 3.
  p.backward(batch, w, w);
};

}  // namespace juice
