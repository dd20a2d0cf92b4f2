// juice/algorithms/ppo/ppo.hpp
//
// PPO-clip (Schulman et al., "Proximal Policy Optimization Algorithms", 2017) as RFT's policy step
// for sampled models (Li et al., "Getting More Juice Out of the SFT Data", NeurIPS 2024, Algorithm 1
// step 3): it moves pi towards argmax_pi E_{y~pi}[r(x,y)] - beta KL(pi || pi_ref) with the RLHF
// recipe of Ziegler et al. (2019) / Ouyang et al. (2022):
//   1. roll out y ~ pi_old(.|x) (samples_per_prompt per prompt) and score r(x,y) with the reward model;
//   2. per-token rewards r_t = -beta (log pi_old(y_t|s_t) - log pi_ref(y_t|s_t)) + [t last] r(x,y)
//      (juice::mdp::kl_penalised_rewards), advantages by GAE with gamma = 1 (juice::mdp::gae) on the
//      policy's value head, returns R_t = A_t + V_t;
//   3. `epochs` updates on the rollout of
//        L = sum_t c_t max(-A_t rho_t, -A_t clip(rho_t, 1-eps, 1+eps))
//            + value_coef sum_t c_t (V_t - R_t)^2 / 2,
//      rho_t = exp(log pi(y_t|s_t) - log pi_old(y_t|s_t)), c_t = row weight / total weighted tokens.
// The reward model is read, never trained; the reference is frozen.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>

#include "juice/algorithms/ppo/value_policy.hpp"
#include "juice/concepts/optimizer.hpp"
#include "juice/concepts/policy.hpp"
#include "juice/concepts/policy_improver.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/mdp/advantages.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/data_parallel.hpp"
#include "juice/optim/gradients.hpp"

namespace juice {

struct ppo_options {
  std::size_t samples_per_prompt = 1;  // rollouts per prompt per improve() call
  std::size_t epochs = 4;              // updates on each rollout
  double clip = 0.2;                   // epsilon of the clipped ratio
  double value_coef = 0.5;             // weight of the value loss
  double gamma = 1.0;                  // discount (1: the episodic RLHF setting)
  double lambda = 0.95;                // GAE lambda
  double max_grad_norm = 1.0;          // global gradient clipping; 0 = off
  bool normalise_advantages = true;    // whiten advantages over the rollout's response tokens
};

// c_t: each response token's weight, row weight / sum_b weight_b |y_b|.
inline token_values<double> ppo_token_weights(const sequence_batch& batch) {
  double denom = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b) denom += batch.weight(b) * static_cast<double>(batch.response_length(b));
  token_values<double> c = xt::zeros<double>({batch.rows(), batch.width()});
  if (!(denom > 0)) return c;
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) c(b, static_cast<std::size_t>(t)) = batch.weight(b) / denom;
  return c;
}

// Advantages (GAE on KL-penalised rewards) and returns for a rollout: the pair (A, R = A + V).
template <class S>
std::pair<token_values<S>, token_values<S>> ppo_advantages(const sequence_values<S>& score, const token_values<S>& old_logp,
                                                           const token_values<S>& ref_logp, const token_values<S>& values,
                                                           const sequence_batch& batch, double beta, double gamma,
                                                           double lambda) {
  const auto rewards = mdp::kl_penalised_rewards(score, old_logp, ref_logp, batch, beta);
  token_values<S> adv = mdp::gae(rewards, values, batch, gamma, lambda);
  token_values<S> ret = xt::zeros<S>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t)
      ret(b, static_cast<std::size_t>(t)) = adv(b, static_cast<std::size_t>(t)) + values(b, static_cast<std::size_t>(t));
  return {adv, ret};
}

// The clipped surrogate sum_t c_t max(-A rho, -A clip(rho)) and its gradient with respect to each
// token's log-prob (-c_t A_t rho_t where the unclipped branch is active, 0 where clipping binds).
template <class S>
double ppo_clip_loss(const sequence_batch& batch, const token_values<S>& logp, const token_values<S>& old_logp,
                     const token_values<S>& adv, double clip, token_values<S>* weights = nullptr,
                     double* clipped_fraction = nullptr) {
  const auto c = ppo_token_weights(batch);
  if (weights) *weights = xt::zeros<S>({batch.rows(), batch.width()});
  double loss = 0, clipped = 0, mass = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto ti = batch.prompt_length(b); ti < batch.length(b); ++ti) {
      const auto t = static_cast<std::size_t>(ti);
      const double a = static_cast<double>(adv(b, t));
      const double rho = std::exp(static_cast<double>(logp(b, t)) - static_cast<double>(old_logp(b, t)));
      const double rc = std::min(std::max(rho, 1 - clip), 1 + clip);
      const double unclipped = -a * rho, clipped_term = -a * rc;
      const bool binds = clipped_term > unclipped;
      loss += c(b, t) * (binds ? clipped_term : unclipped);
      if (weights && !binds) (*weights)(b, t) = static_cast<S>(-c(b, t) * a * rho);
      clipped += binds ? c(b, t) : 0.0;
      mass += c(b, t);
    }
  if (clipped_fraction) *clipped_fraction = mass > 0 ? clipped / mass : 0.0;
  return loss;
}

// The value loss value_coef sum_t c_t (V_t - R_t)^2 / 2 and its gradient with respect to V_t.
template <class S>
double ppo_value_loss(const sequence_batch& batch, const token_values<S>& values, const token_values<S>& returns,
                      double value_coef, token_values<S>* weights = nullptr) {
  const auto c = ppo_token_weights(batch);
  if (weights) *weights = xt::zeros<S>({batch.rows(), batch.width()});
  double loss = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto ti = batch.prompt_length(b); ti < batch.length(b); ++ti) {
      const auto t = static_cast<std::size_t>(ti);
      const double d = static_cast<double>(values(b, t)) - static_cast<double>(returns(b, t));
      loss += value_coef * c(b, t) * 0.5 * d * d;
      if (weights) (*weights)(b, t) = static_cast<S>(value_coef * c(b, t) * d);
    }
  return loss;
}

// What the last improve() call saw.
struct ppo_stats {
  double mean_score = 0;        // weighted mean reward-model score of the rollout
  double kl = 0;                // weighted mean sum_t (log pi_old - log pi_ref) per response
  double first_loss = 0;        // clipped surrogate + value loss at the first epoch
  double last_loss = 0;         // ... at the last epoch (before its update)
  double clipped_fraction = 0;  // token mass where clipping bound, last epoch
};

template <class Opt = adamw>
class ppo_improver {
public:
  using optimizer_type = Opt;

  explicit ppo_improver(ppo_options options = {}, Opt optimizer = Opt{}) : options_(options), opt_(std::move(optimizer)) {
    if (options_.samples_per_prompt == 0 || options_.epochs == 0)
      throw invalid_argument("juice::ppo: samples_per_prompt and epochs must be at least 1.");
    if (!(options_.clip > 0)) throw invalid_argument("juice::ppo: clip must be positive (got " + std::to_string(options_.clip) + ").");
  }

  [[nodiscard]] const ppo_options& options() const { return options_; }
  // The policy optimizer (its state persists across improve() calls).
  Opt& optimizer() { return opt_; }
  [[nodiscard]] const ppo_stats& last_stats() const { return stats_; }

  // One PPO iteration on fresh rollouts for `prompts` (see the header comment). Constrained, so that
  // juice::PolicyImprover<ppo, P, R> is false unless P is a juice::ValuePolicy (a Policy with a value
  // head: logprobs_and_values and backward(batch, logp_weights*, value_weights*); see
  // juice/algorithms/ppo/value_policy.hpp) and R a juice::RewardModel.
  template <ValuePolicy P, RewardModel R>
  requires Optimizer<Opt, P>
  void improve(P& policy, const P& reference, R& reward, const sequence_batch& prompts, double beta, rng& g) {
    using S = typename P::scalar_type;
    const sequence_batch rollout = policy.sample(prompts, options_.samples_per_prompt, g);
    const auto raw_score = reward.rewards(rollout);
    sequence_values<S> score = xt::zeros<S>({rollout.rows()});
    for (std::size_t b = 0; b < rollout.rows(); ++b) score(b) = static_cast<S>(raw_score(b));
    const auto ref = reference.logprobs(rollout);
    const auto [old_logp, values0] = policy.logprobs_and_values(rollout);
    auto [adv, returns] = ppo_advantages<S>(score, old_logp, ref, values0, rollout, beta, options_.gamma, options_.lambda);
    if (options_.normalise_advantages) whiten(adv, rollout);

    stats_ = ppo_stats{};
    double wsum = 0;
    for (std::size_t b = 0; b < rollout.rows(); ++b) {
      stats_.mean_score += rollout.weight(b) * static_cast<double>(score(b));
      for (auto t = rollout.prompt_length(b); t < rollout.length(b); ++t)
        stats_.kl += rollout.weight(b) * static_cast<double>(old_logp(b, static_cast<std::size_t>(t)) - ref(b, static_cast<std::size_t>(t)));
      wsum += rollout.weight(b);
    }
    if (wsum > 0) {
      stats_.mean_score /= wsum;
      stats_.kl /= wsum;
    }
    for (std::size_t e = 0; e < options_.epochs; ++e) {
      const std::string where = "juice::ppo epoch " + std::to_string(e);
      const auto [logp, values] = e == 0 ? std::pair{old_logp, values0} : policy.logprobs_and_values(rollout);
      token_values<S> wl, wv;
      double cf = 0;
      const double loss = ppo_clip_loss(rollout, logp, old_logp, adv, options_.clip, &wl, &cf) +
                          ppo_value_loss(rollout, values, returns, options_.value_coef, &wv);
      if (e == 0) stats_.first_loss = loss;
      stats_.last_loss = loss;
      stats_.clipped_fraction = cf;
      policy.zero_grad();
      policy.backward(rollout, &wl, &wv);
      const double gn = options_.max_grad_norm > 0 ? clip_grad_norm(policy, options_.max_grad_norm) : std::sqrt(grad_norm_sq(policy));
      // After the backward pass, on every rank alike (a data-parallel optimizer: data_parallel.hpp).
      check_finite_everywhere(opt_, {{"loss", loss}, {"gradient norm", gn}}, where);
      opt_.step(policy);
    }
  }

private:
  template <class S>
  static void whiten(token_values<S>& adv, const sequence_batch& batch) {
    const auto c = ppo_token_weights(batch);
    double mean = 0, var = 0;
    for (std::size_t i = 0; i < adv.size(); ++i) mean += c.data()[i] * static_cast<double>(adv.data()[i]);
    for (std::size_t i = 0; i < adv.size(); ++i) {
      const double d = static_cast<double>(adv.data()[i]) - mean;
      var += c.data()[i] * d * d;
    }
    const double inv = 1.0 / std::sqrt(var + 1e-8);
    for (std::size_t i = 0; i < adv.size(); ++i)
      if (c.data()[i] > 0) adv.data()[i] = static_cast<S>((static_cast<double>(adv.data()[i]) - mean) * inv);
  }

  ppo_options options_;
  Opt opt_;
  ppo_stats stats_;
};

using ppo = ppo_improver<adamw>;

}  // namespace juice
