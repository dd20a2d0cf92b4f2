// juice/concepts/policy.hpp
//
// The Policy concept: a conditional distribution pi_theta(y|x) over responses, as SFT, RFT and IRFT
// need it. Every algorithm in juice reduces to (a) per-token log-probs for a batch and (b) a backward
// pass from given per-token weights dLoss/d(log-prob); plus sampling and a frozen copy.
//
// P satisfies Policy when (S = P::scalar_type):
//   1. P satisfies juice::Parameterised (scalar type, backend, parameters(), zero_grad());
//   2. p.logprobs(batch) returns token_values<S> (B,T) with log pi(tokens(b,t) | tokens(b,<t)) on
//      every response token and zero elsewhere; the model may keep what its backward pass needs;
//   3. p.backward(batch, weights), called after p.logprobs(batch) on the same batch, adds
//      d/dtheta sum_{b,t} weights(b,t) * logprob(b,t) to the gradients;
//   4. cp.sample(prompts, n, rng) returns n responses per prompt row drawn from pi (a batch of
//      prompts.rows() * n rows, source(row) = prompt row, weight = prompt weight / n);
//   5. cp.snapshot() returns a P with the same parameters, to serve as a frozen reference.
// Deliberately not required: exact enumeration (EnumerablePolicy), value heads, KV caches, a memory
// space for the log-probs other than the host, or any particular parameterisation.
#pragma once

#include <concepts>
#include <cstddef>

#include "juice/concepts/parameterised.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/rng.hpp"

namespace juice {

template <class P>
concept Policy =
    // 1.
    Parameterised<P> &&
    requires(P& p, const P& cp, const sequence_batch& batch,
             const token_values<typename P::scalar_type>& weights, rng& g, std::size_t n) {
  // 2.
  { p.logprobs(batch) } -> std::same_as<token_values<typename P::scalar_type>>;
  // 3.
  p.backward(batch, weights);
  // 4.
  { cp.sample(batch, n, g) } -> std::same_as<sequence_batch>;
  // 5.
  { cp.snapshot() } -> std::same_as<P>;
};

// A Policy whose responses can be listed: cp.enumerate(prompts) returns every complete response to
// every prompt row, with weight = prompt weight * pi(y|x) and source = prompt row. Lets algorithms
// use exact expectations instead of samples (juice::exact), e.g. with tabular models.
template <class P>
concept EnumerablePolicy = Policy<P> && requires(const P& cp, const sequence_batch& prompts) {
  { cp.enumerate(prompts) } -> std::same_as<sequence_batch>;
};

}  // namespace juice
