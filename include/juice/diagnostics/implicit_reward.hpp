// juice/diagnostics/implicit_reward.hpp
//
// IRFT's implicit reward as a juice::RewardModel (Li et al., "Getting More Juice Out of the SFT
// Data", NeurIPS 2024, Algorithm 2):
//   r_theta(x,y) = beta (log pi_theta(y|x) - log pi_ref(y|x)),
// whose parameters are the policy's. It lets the reward-side diagnostics run on a policy: with it,
// juice::irl_log_likelihood gives l(theta) = E_D log pi_theta(y|x) (the inner closed form returns
// pi_theta itself, Z = 1) and its exact gradient with respect to the policy parameters, the
// stationarity measure of IRFT's O(1/sqrt(TK)) claim.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "juice/concepts/policy.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/objectives/irl_likelihood.hpp"
#include "juice/optim/gradients.hpp"

namespace juice {

template <Policy P, Policy Ref = P>
class implicit_reward {
public:
  using scalar_type = typename P::scalar_type;
  using backend_type = typename P::backend_type;

  // Holds references: the policy (trained through this adapter's gradients) and the reference.
  implicit_reward(P& policy, const Ref& reference, double beta) : policy_(&policy), reference_(&reference), beta_(beta) {
    if (!(beta > 0)) throw invalid_argument("juice::implicit_reward: beta must be positive (got " + std::to_string(beta) + ").");
  }

  [[nodiscard]] double beta() const { return beta_; }

  // --- juice::Parameterised (the policy's parameters) ---
  auto parameters() { return policy_->parameters(); }
  void zero_grad() { policy_->zero_grad(); }

  // --- juice::RewardModel ---
  sequence_values<scalar_type> rewards(const sequence_batch& batch) const {
    const auto lp = sequence_sum(policy_->logprobs(batch), batch);
    const auto lr = sequence_sum(reference_->logprobs(batch), batch);
    sequence_values<scalar_type> out = xt::zeros<scalar_type>({batch.rows()});
    for (std::size_t b = 0; b < batch.rows(); ++b) out(b) = static_cast<scalar_type>(beta_ * (lp(b) - lr(b)));
    return out;
  }

  // Called after rewards(batch), which ran the policy's logprobs on the batch (what its backward needs).
  void backward(const sequence_batch& batch, const sequence_values<scalar_type>& weights) {
    std::vector<double> per_row(batch.rows());
    for (std::size_t b = 0; b < batch.rows(); ++b) per_row[b] = beta_ * static_cast<double>(weights(b));
    policy_->backward(batch, spread_over_response<scalar_type>(per_row, batch));
  }

private:
  P* policy_;
  const Ref* reference_;
  double beta_;
};

// The exact ||grad l(theta)||^2 of the demonstration log-likelihood l = E_D log pi_theta(y|x), the
// ML-IRL objective of an implicit-reward policy, by enumeration. Overwrites the policy's gradients
// with grad l (it is what they hold afterwards). `reference` is any fixed enumerable policy with full
// support (the result does not depend on which).
template <EnumerablePolicy P, EnumerablePolicy Ref>
double implicit_irl_grad_norm_sq(P& policy, const Ref& reference, const sequence_batch& demos, double* value = nullptr) {
  implicit_reward<P, Ref> r(policy, reference, 1.0);
  policy.zero_grad();
  const double l = irl_log_likelihood(reference, r, demos, {1.0, true});
  if (value) *value = l;
  return grad_norm_sq(policy);
}

// The exact ||grad l(theta)||^2 of an explicit reward model (RFT's stationarity measure). Overwrites
// the reward model's gradients with grad l.
template <EnumerablePolicy Ref, RewardModel R>
double irl_grad_norm_sq(const Ref& reference, R& reward, const sequence_batch& demos, double beta, double* value = nullptr) {
  reward.zero_grad();
  const double l = irl_log_likelihood(reference, reward, demos, {beta, true});
  if (value) *value = l;
  return grad_norm_sq(reward);
}

}  // namespace juice
