// juice/concepts/policy_improver.hpp
//
// The PolicyImprover concept: RFT's policy step (the paper's Algorithm 1, step 3). Given the
// current reward model it moves the policy towards argmax_pi E_{y~pi}[r(x,y)] - beta KL(pi || pi_ref)
// on the given prompts. Tabular models offer the exact closed form and a mirror step; a transformer
// offers a sampled policy-gradient method (PPO).
//
// I satisfies PolicyImprover<P, R> when:
//   1. P satisfies juice::Policy and R satisfies juice::RewardModel;
//   2. i.improve(policy, reference, reward, prompts, beta, rng) updates policy in place, using the
//      frozen reference and reading (not training) the reward model.
// Deliberately not required: how many updates one call makes, whether it samples, or a return value.
#pragma once

#include "juice/concepts/policy.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/rng.hpp"

namespace juice {

template <class I, class P, class R>
concept PolicyImprover =
    // 1.
    Policy<P> && RewardModel<R> &&
    requires(I& i, P& policy, const P& reference, R& reward, const sequence_batch& prompts, double beta, rng& g) {
  // 2.
  i.improve(policy, reference, reward, prompts, beta, g);
};

}  // namespace juice
