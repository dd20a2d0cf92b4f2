// juice/concepts/reward_model.hpp
//
// The RewardModel concept: a trainable sequence reward r_theta(x,y), as RFT's reward step needs it.
//
// R satisfies RewardModel when (S = R::scalar_type):
//   1. R satisfies juice::Parameterised;
//   2. r.rewards(batch) returns sequence_values<S> (B) with r(x_b, y_b) for every row; the model
//      may keep what its backward pass needs;
//   3. r.backward(batch, weights), called after r.rewards(batch) on the same batch, adds
//      d/dtheta sum_b weights(b) * r(x_b, y_b) to the gradients.
// Deliberately not required: token-level rewards, a particular head or architecture, or
// normalisation of the reward scale.
#pragma once

#include <concepts>

#include "juice/concepts/parameterised.hpp"
#include "juice/core/batch.hpp"

namespace juice {

template <class R>
concept RewardModel =
    // 1.
    Parameterised<R> &&
    requires(R& r, const sequence_batch& batch, const sequence_values<typename R::scalar_type>& weights) {
  // 2.
  { r.rewards(batch) } -> std::same_as<sequence_values<typename R::scalar_type>>;
  // 3.
  r.backward(batch, weights);
};

}  // namespace juice
