// juice/backends/tabular/policy_steps.hpp
//
// RFT's policy step for tabular policies (juice::PolicyImprover): on the given prompts, move pi
// towards the KL-regularised optimum of the current reward,
//   pi*(y|x) = pi_ref(y|x) exp(r(x,y)/beta) / Z(x)              (exact_policy_step)
// or take a mirror-descent step of rate alpha towards it,
//   log pi_{t+1} = (1-alpha) log pi_t + alpha (log pi_ref + r/beta) - normaliser   (mirror_policy_step).
// Both are computed on sequences by enumeration and projected exactly onto the per-state logits.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "juice/backends/tabular/tabular_policy.hpp"
#include "juice/backends/tabular/tabular_reward.hpp"
#include "juice/concepts/policy_improver.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"

namespace juice::tabular {

namespace detail {

// log pi(y|x) for the enumerated responses, normalised per prompt (source).
inline void normalise_per_source(const sequence_batch& rows, std::vector<double>& logp) {
  std::vector<double> lse;
  for (std::size_t b = 0; b < rows.rows(); ++b) {
    const auto x = static_cast<std::size_t>(rows.source(b));
    if (x >= lse.size()) lse.resize(x + 1, -std::numeric_limits<double>::infinity());
    lse[x] = log_add(lse[x], logp[b]);
  }
  for (std::size_t b = 0; b < rows.rows(); ++b) logp[b] -= lse[static_cast<std::size_t>(rows.source(b))];
}

// (1-alpha) log pi + alpha (log pi_ref + r/beta), normalised, set into the policy.
template <class S, class Space, RewardModel R>
void mirror_towards_optimum(policy<S, Space>& pi, const policy<S, Space>& reference, R& reward,
                            const sequence_batch& prompts, double beta, double alpha) {
  if (!(beta > 0)) throw invalid_argument("juice::tabular policy step: beta must be positive.");
  const sequence_batch all = reference.enumerate(prompts);
  const auto r = reward.rewards(all);
  const auto ref = sequence_sum(reference.logprobs(all), all);
  std::vector<double> target(all.rows());
  if (alpha == 1) {
    for (std::size_t b = 0; b < all.rows(); ++b) target[b] = ref(b) + static_cast<double>(r(b)) / beta;
  } else {
    const auto cur = sequence_sum(pi.logprobs(all), all);
    for (std::size_t b = 0; b < all.rows(); ++b)
      target[b] = (1 - alpha) * cur(b) + alpha * (ref(b) + static_cast<double>(r(b)) / beta);
  }
  normalise_per_source(all, target);
  pi.set_sequence_logprobs(all, target);
}

}  // namespace detail

// Sets pi to the exact KL-regularised optimum pi_ref exp(r/beta)/Z on the prompts' states.
struct exact_policy_step {
  template <class S, class Space, RewardModel R>
  void improve(policy<S, Space>& pi, const policy<S, Space>& reference, R& reward, const sequence_batch& prompts,
               double beta, rng&) const {
    detail::mirror_towards_optimum(pi, reference, reward, prompts, beta, 1.0);
  }
};

// One mirror-descent step of rate alpha in (0, 1] towards that optimum.
struct mirror_policy_step {
  double alpha = 0.5;

  template <class S, class Space, RewardModel R>
  void improve(policy<S, Space>& pi, const policy<S, Space>& reference, R& reward, const sequence_batch& prompts,
               double beta, rng&) const {
    if (!(alpha > 0 && alpha <= 1))
      throw invalid_argument("juice::tabular::mirror_policy_step: alpha must lie in (0, 1] (got " + to_text(alpha) + ").");
    detail::mirror_towards_optimum(pi, reference, reward, prompts, beta, alpha);
  }
};

static_assert(PolicyImprover<exact_policy_step, policy<double, bandit_space>, reward<double, bandit_space>>);
static_assert(PolicyImprover<mirror_policy_step, policy<double, bandit_space>, reward<double, bandit_space>>);

}  // namespace juice::tabular
