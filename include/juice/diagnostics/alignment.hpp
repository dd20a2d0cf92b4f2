// juice/diagnostics/alignment.hpp
//
// Alignment diagnostics of Li et al. (NeurIPS 2024, section 5): how well a policy fits the
// demonstrations and how it separates preferred from rejected responses.
//   demonstration_nll       -E_D log pi(y|x)
//   logprob_gap             E_pairs[ log pi(chosen|x) - log pi(rejected|x) ] (its change from the
//                           initial policy is what the paper plots: SFT's falls, reward learning's rises)
//   implicit_reward_accuracy  fraction of pairs where beta log(pi/pi_ref) ranks chosen above rejected
//   expected_reward         E_x E_{y~pi} r(x,y), exactly by enumeration
//   win_rate                P(r(x,y) > r(x,y')) + P(tie)/2 with y ~ pi, y' ~ opponent, exactly or sampled
//   kl_to_reference, entropy  exact sequence-level KL(pi || pi_ref) and entropy by enumeration
// Weights: a batch's row weights (pairs' weights) are normalised, so a weighted batch is an expectation.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "juice/concepts/policy.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/mdp/kl.hpp"

namespace juice {

namespace detail {
inline double total_weight(const xt::xtensor<double, 1>& w, const char* who) {
  double t = 0;
  for (double v : w) t += v;
  if (!(t > 0)) throw invalid_argument(std::string(who) + ": the weights sum to zero (an empty batch?).");
  return t;
}
}  // namespace detail

// -E_D log pi(y|x) over the (weighted) demonstrations.
template <Policy P>
double demonstration_nll(const P& policy, const sequence_batch& demos) {
  const double W = detail::total_weight(demos.weight, "juice::demonstration_nll");
  const auto lp = sequence_sum(policy.logprobs(demos), demos);
  double nll = 0;
  for (std::size_t b = 0; b < demos.rows(); ++b) nll -= demos.weight(b) / W * lp(b);
  return nll;
}

// E_pairs[ log pi(chosen|x) - log pi(rejected|x) ].
template <Policy P>
double logprob_gap(const P& policy, const pair_batch& pairs) {
  const double W = detail::total_weight(pairs.weight, "juice::logprob_gap");
  const auto c = sequence_sum(policy.logprobs(pairs.chosen), pairs.chosen);
  const auto r = sequence_sum(policy.logprobs(pairs.rejected), pairs.rejected);
  double gap = 0;
  for (std::size_t i = 0; i < pairs.rows(); ++i) gap += pairs.weight(i) / W * (c(i) - r(i));
  return gap;
}

// logprob_gap(policy) - logprob_gap(initial): the change of the chosen/rejected separation.
template <Policy P, Policy Q>
double logprob_gap_change(const P& policy, const Q& initial, const pair_batch& pairs) {
  return logprob_gap(policy, pairs) - logprob_gap(initial, pairs);
}

// Weighted fraction of pairs where z = beta [(log pi - log pi_ref)(chosen) - (log pi - log pi_ref)(rejected)]
// is positive (a tie, z = 0, counts one half). beta > 0 does not change the sign; it is kept for
// symmetry with the loss.
template <Policy P, Policy Q>
double implicit_reward_accuracy(const P& policy, const Q& reference, const pair_batch& pairs, double beta = 1.0) {
  if (!(beta > 0)) throw invalid_argument("juice::implicit_reward_accuracy: beta must be positive.");
  const double W = detail::total_weight(pairs.weight, "juice::implicit_reward_accuracy");
  const auto pc = sequence_sum(policy.logprobs(pairs.chosen), pairs.chosen);
  const auto pr = sequence_sum(policy.logprobs(pairs.rejected), pairs.rejected);
  const auto qc = sequence_sum(reference.logprobs(pairs.chosen), pairs.chosen);
  const auto qr = sequence_sum(reference.logprobs(pairs.rejected), pairs.rejected);
  double acc = 0;
  for (std::size_t i = 0; i < pairs.rows(); ++i) {
    const double z = beta * ((pc(i) - qc(i)) - (pr(i) - qr(i)));
    acc += pairs.weight(i) / W * (z > 0 ? 1.0 : z == 0 ? 0.5
                                                       : 0.0);
  }
  return acc;
}

// E_x E_{y~pi} r(x,y), exactly (prompts weighted by their normalised weights).
template <EnumerablePolicy P, RewardModel R>
double expected_reward(const P& policy, R& reward, const sequence_batch& prompts) {
  sequence_batch x = prompts;
  normalise_weights(x);
  const auto all = policy.enumerate(x);
  const auto r = reward.rewards(all);
  double e = 0;
  for (std::size_t b = 0; b < all.rows(); ++b) e += all.weight(b) * static_cast<double>(r(b));
  return e;
}

// P(r(x,y) > r(x,y')) + P(r(x,y) = r(x,y'))/2 with x ~ prompts, y ~ policy, y' ~ opponent, exactly.
// Rewards within `tie` of each other count as a tie.
template <EnumerablePolicy P, EnumerablePolicy Q, RewardModel R>
double win_rate(const P& policy, const Q& opponent, R& reward, const sequence_batch& prompts, double tie = 0.0) {
  sequence_batch x = prompts;
  normalise_weights(x);
  const auto mine = policy.enumerate(x), theirs = opponent.enumerate(x);
  const auto rm = reward.rewards(mine), rt = reward.rewards(theirs);
  // Group the opponent's rows by prompt.
  std::vector<std::vector<std::size_t>> by_prompt(x.rows());
  for (std::size_t b = 0; b < theirs.rows(); ++b) by_prompt[static_cast<std::size_t>(theirs.source(b))].push_back(b);
  double win = 0;
  for (std::size_t a = 0; a < mine.rows(); ++a) {
    const auto px = static_cast<std::size_t>(mine.source(a));
    const double wx = x.weight(px);
    if (!(wx > 0)) continue;
    for (std::size_t b : by_prompt[px]) {
      // P(y) P(y') w_x = (mine.weight / w_x) (theirs.weight / w_x) w_x.
      const double p = mine.weight(a) * theirs.weight(b) / wx;
      const double d = static_cast<double>(rm(a)) - static_cast<double>(rt(b));
      win += p * (std::abs(d) <= tie ? 0.5 : d > 0 ? 1.0
                                                   : 0.0);
    }
  }
  return win;
}

// The Monte-Carlo win rate from n responses per prompt of each policy (pairs matched by index).
template <Policy P, Policy Q, RewardModel R>
double sampled_win_rate(const P& policy, const Q& opponent, R& reward, const sequence_batch& prompts, std::size_t n,
                        rng& g, double tie = 0.0) {
  if (n == 0) throw invalid_argument("juice::sampled_win_rate: needs at least one sample per prompt.");
  sequence_batch x = prompts;
  normalise_weights(x);
  const auto mine = policy.sample(x, n, g), theirs = opponent.sample(x, n, g);
  const auto rm = reward.rewards(mine), rt = reward.rewards(theirs);
  double win = 0;
  for (std::size_t b = 0; b < mine.rows(); ++b) {
    const double d = static_cast<double>(rm(b)) - static_cast<double>(rt(b));
    win += mine.weight(b) * (std::abs(d) <= tie ? 0.5 : d > 0 ? 1.0
                                                              : 0.0);
  }
  return win;
}

// E_x KL(pi(.|x) || pi_ref(.|x)), exactly.
template <EnumerablePolicy P, EnumerablePolicy Q>
double kl_to_reference(const P& policy, const Q& reference, const sequence_batch& prompts) {
  return mdp::enumerated_kl(policy, reference, prompts);
}

// E_x H(pi(.|x)), exactly.
template <EnumerablePolicy P>
double entropy(const P& policy, const sequence_batch& prompts) {
  return mdp::enumerated_entropy(policy, prompts);
}

}  // namespace juice
