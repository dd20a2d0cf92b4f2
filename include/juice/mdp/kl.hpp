// juice/mdp/kl.hpp
//
// KL divergence and entropy on the token-level MDP, exact and estimated.
//   Exact, on a prefix tree: the per-state KL(pi(.|s) || pi_ref(.|s)) and entropy H(pi(.|s)), and the
//   sequence-level values by the chain rule,
//     KL(pi(.|x) || pi_ref(.|x)) = sum_s mu_x(s) KL(pi(.|s) || pi_ref(.|s)),
//   where mu_x(s) is the probability that pi's response to x passes through s (its occupancy).
//   Exact, for any enumerable policy: sum over every response.
//   Estimated, from sampled tokens y_t ~ pi (Schulman, "Approximating KL divergence", 2020), with
//   d_t = log pi(y_t|s_t) - log pi_ref(y_t|s_t):
//     k1 = d_t (unbiased), k2 = d_t^2 / 2 (low variance, biased), k3 = (e^{-d_t} - 1) + d_t
//     (unbiased, non-negative); summing over a response's tokens estimates the sequence KL.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "juice/concepts/policy.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/mdp/prefix_tree.hpp"

namespace juice::mdp {

// KL(pi(.|s) || ref(.|s)) for every state; tables are (states x A) log-probabilities, row-major.
inline std::vector<double> state_kl(const std::vector<double>& log_pi, const std::vector<double>& log_ref, std::size_t A) {
  if (A == 0 || log_pi.size() != log_ref.size() || log_pi.size() % A != 0)
    throw invalid_argument("juice::mdp::state_kl: the tables must have the same (states x A) shape.");
  std::vector<double> out(log_pi.size() / A, 0.0);
  for (std::size_t s = 0; s < out.size(); ++s)
    for (std::size_t a = 0; a < A; ++a) {
      const double lp = log_pi[s * A + a];
      if (std::isinf(lp) && lp < 0) continue;  // 0 log 0 = 0
      out[s] += std::exp(lp) * (lp - log_ref[s * A + a]);
    }
  return out;
}

// H(pi(.|s)) = -sum_a pi log pi for every state.
inline std::vector<double> state_entropy(const std::vector<double>& log_pi, std::size_t A) {
  if (A == 0 || log_pi.size() % A != 0) throw invalid_argument("juice::mdp::state_entropy: the table is not (states x A).");
  std::vector<double> out(log_pi.size() / A, 0.0);
  for (std::size_t s = 0; s < out.size(); ++s)
    for (std::size_t a = 0; a < A; ++a) {
      const double lp = log_pi[s * A + a];
      if (!(std::isinf(lp) && lp < 0)) out[s] -= std::exp(lp) * lp;
    }
  return out;
}

// mu_x(s): the probability that the response to s's prompt passes through s, under log_pi.
inline std::vector<double> occupancy(const prefix_tree& tree, const std::vector<double>& log_pi) {
  const std::size_t S = tree.num_states(), A = tree.num_actions();
  if (log_pi.size() != S * A) throw invalid_argument("juice::mdp::occupancy: the policy table is not (states x V).");
  std::vector<double> mu(S, 0.0);
  for (std::size_t s = 0; s < S; ++s) {
    if (tree.parent(s) == prefix_tree::none) mu[s] = 1.0;
    for (std::size_t a = 0; a < A; ++a) {
      const auto c = tree.child(s, a);
      if (c != prefix_tree::none) mu[static_cast<std::size_t>(c)] = mu[s] * std::exp(log_pi[s * A + a]);
    }
  }
  return mu;
}

// Sum over each prompt's states of mu_x(s) f(s): the sequence-level value of a per-state quantity.
inline std::vector<double> per_prompt(const prefix_tree& tree, const std::vector<double>& mu, const std::vector<double>& f) {
  std::vector<double> out(tree.num_prompts(), 0.0);
  for (std::size_t s = 0; s < tree.num_states(); ++s) out[tree.prompt(s)] += mu[s] * f[s];
  return out;
}

// KL(pi(.|x) || ref(.|x)) for every prompt x of the tree, exactly.
inline std::vector<double> sequence_kl(const prefix_tree& tree, const std::vector<double>& log_pi,
                                       const std::vector<double>& log_ref) {
  return per_prompt(tree, occupancy(tree, log_pi), state_kl(log_pi, log_ref, tree.num_actions()));
}

// H(pi(.|x)) = -E_{y~pi} log pi(y|x) for every prompt x of the tree, exactly.
inline std::vector<double> sequence_entropy(const prefix_tree& tree, const std::vector<double>& log_pi) {
  return per_prompt(tree, occupancy(tree, log_pi), state_entropy(log_pi, tree.num_actions()));
}

// E_x KL(pi(.|x) || ref(.|x)) for any enumerable policies, exactly, with x weighted by the prompts'
// (normalised) weights.
template <EnumerablePolicy P, EnumerablePolicy Q>
double enumerated_kl(const P& pi, const Q& ref, const sequence_batch& prompts) {
  sequence_batch x = prompts;
  normalise_weights(x);
  const sequence_batch all = pi.enumerate(x);
  const auto lp = sequence_sum(pi.logprobs(all), all);
  const auto lq = sequence_sum(ref.logprobs(all), all);
  double kl = 0;
  for (std::size_t b = 0; b < all.rows(); ++b)
    if (all.weight(b) > 0) kl += all.weight(b) * (lp(b) - lq(b));
  return kl;
}

// E_x H(pi(.|x)) for an enumerable policy, exactly.
template <EnumerablePolicy P>
double enumerated_entropy(const P& pi, const sequence_batch& prompts) {
  sequence_batch x = prompts;
  normalise_weights(x);
  const sequence_batch all = pi.enumerate(x);
  const auto lp = sequence_sum(pi.logprobs(all), all);
  double h = 0;
  for (std::size_t b = 0; b < all.rows(); ++b)
    if (all.weight(b) > 0) h -= all.weight(b) * lp(b);
  return h;
}

enum class kl_estimator { k1,
                          k2,
                          k3 };

// Per-token KL estimates on the response tokens of `batch` (sampled from pi), zero elsewhere.
template <class T>
token_values<T> token_kl_estimate(const token_values<T>& logp, const token_values<T>& ref_logp,
                                  const sequence_batch& batch, kl_estimator kind = kl_estimator::k3) {
  token_values<T> out = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) {
      const double d = static_cast<double>(logp(b, t)) - static_cast<double>(ref_logp(b, t));
      double v = d;
      if (kind == kl_estimator::k2) v = 0.5 * d * d;
      if (kind == kl_estimator::k3) v = std::expm1(-d) + d;
      out(b, static_cast<std::size_t>(t)) = static_cast<T>(v);
    }
  return out;
}

// Per-sequence KL estimates: the token estimates summed over each response.
template <class T>
sequence_values<double> sequence_kl_estimate(const token_values<T>& logp, const token_values<T>& ref_logp,
                                             const sequence_batch& batch, kl_estimator kind = kl_estimator::k3) {
  return sequence_sum(token_kl_estimate(logp, ref_logp, batch, kind), batch);
}

// Per-token entropy estimate -log pi(y_t|s_t) (unbiased for the per-state entropy under y_t ~ pi).
template <class T>
token_values<T> token_entropy_estimate(const token_values<T>& logp, const sequence_batch& batch) {
  token_values<T> out = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t)
      out(b, static_cast<std::size_t>(t)) = -logp(b, static_cast<std::size_t>(t));
  return out;
}

}  // namespace juice::mdp
