// juice/algorithms/rft/rft.hpp
//
// RFT, reward-learning fine-tuning with an explicit reward model (Li, Zeng, Wai, Li, Garcia, Hong,
// "Getting More Juice Out of the SFT Data: Reward Learning from Human Demonstration Improves SFT for
// LLM Alignment", NeurIPS 2024, Algorithm 1). It solves the maximum-likelihood inverse-RL saddle
// problem
//   max_theta min_pi  E_D[r(x,y;theta)] - E_{x,y~pi}[r(x,y;theta)] + beta E_x KL(pi || pi_ref)
// by alternating, per iteration:
//   1. a minibatch (x, y) of demonstrations and y~ ~ pi_t(.|x) (sampled or enumerated);
//   2. K_r reward steps on sum_i w_i h(z_i) + (lambda/2)||theta||^2 with z = s (r(x,y) - r(x,y~)):
//        linear   h(z) = -z, s = 1/beta: its negative gradient is an unbiased estimate of
//                 grad l(theta) (the IRL log-likelihood) when y~ ~ pi_theta;
//        logistic h(z) = -log sigmoid(z), s = 1: Bradley-Terry, what the paper's code uses;
//   3. K_pi policy steps towards argmax_pi E_pi[r] - beta KL(pi || pi_ref), delegated to a
//      PolicyImprover (tabular: exact or mirror step; transformer: PPO).
// With reward_warmup = W, W reward steps on demonstration-vs-generation pairs (minibatches drawn as
// in step 1, y~ from the starting policy) come before the first iteration, as the authors train
// their reward model on all pairs before PPO starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "juice/algorithms/detail/demonstrations.hpp"
#include "juice/algorithms/detail/gradient_step.hpp"
#include "juice/algorithms/detail/minibatches.hpp"
#include "juice/algorithms/generation.hpp"
#include "juice/algorithms/losses/pairwise.hpp"
#include "juice/concepts/observer.hpp"
#include "juice/concepts/optimizer.hpp"
#include "juice/concepts/pairwise_loss.hpp"
#include "juice/concepts/policy.hpp"
#include "juice/concepts/policy_improver.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/events.hpp"
#include "juice/core/rng.hpp"
#include "juice/optim/gradients.hpp"

namespace juice {

struct rft_options {
  double beta = 1.0;              // KL weight of the policy step (and 1/scale of the linear loss)
  double l2 = 0.0;                // lambda: (lambda/2)||theta||^2 on the reward parameters
  std::size_t iterations = 100;   // outer iterations
  std::size_t reward_steps = 1;   // K_r reward updates per iteration
  std::size_t policy_steps = 1;   // K_pi policy-improver calls per iteration
  std::size_t batch_size = 0;     // demonstrations per iteration; 0 = all, weighted
  std::uint64_t seed = 0;         // generation and minibatch order
  std::size_t reward_warmup = 0;  // reward steps before the first policy step (one minibatch each)
};

// The RFT reward loss of one minibatch of pairs and its per-sequence weights dLoss/dr.
//   rewards = r of concat_rows(pairs.chosen, pairs.rejected) (2N values)
// Returns sum_i w_i h(scale (r_c - r_r)); *weights gets +w h' scale for chosen rows, minus for
// rejected rows. The L2 term is separate (juice::l2_penalty, juice::add_l2_gradient).
template <PairwiseLoss Loss, class S>
double rft_reward_loss(const pair_batch& pairs, const sequence_values<S>& rewards, double scale,
                       sequence_values<S>* weights = nullptr) {
  const std::size_t N = pairs.rows();
  std::vector<double> z(N), c;
  for (std::size_t i = 0; i < N; ++i)
    z[i] = scale * (static_cast<double>(rewards(i)) - static_cast<double>(rewards(N + i)));
  const double loss = pairwise_margin_loss<Loss>(pairs, z, scale, weights ? &c : nullptr);
  if (weights) {
    *weights = xt::zeros<S>({2 * N});
    for (std::size_t i = 0; i < N; ++i) {
      (*weights)(i) = static_cast<S>(c[i]);
      (*weights)(N + i) = static_cast<S>(-c[i]);
    }
  }
  return loss;
}

struct rft_result {
  std::size_t updates = 0;         // reward updates, the warm-up's included
  std::size_t warmup_updates = 0;  // of which before the first policy step
  double last_loss = 0;            // last reward loss, L2 term included
};

template <PairwiseLoss Loss>
class rft_trainer {
public:
  using loss_type = Loss;

  explicit rft_trainer(rft_options options = {}) : options_(options) {
    if (!(options_.beta > 0)) throw invalid_argument("juice::rft: beta must be positive (got " + to_text(options_.beta) + ").");
    if (!(options_.l2 >= 0)) throw invalid_argument("juice::rft: the L2 weight lambda must be non-negative (got " + to_text(options_.l2) + ").");
  }

  [[nodiscard]] const rft_options& options() const { return options_; }

  // The margin scale s: 1/beta for a loss with margin_over_beta (the linear, ML-IRL loss), 1 otherwise.
  [[nodiscard]] double margin_scale() const { return juice::margin_scale<Loss>(options_.beta); }

  template <class P, class R, class O, class I, class Mode = sampled, class Ob = null_observer>
  rft_result run(P& policy, const P& reference, R& reward, const sequence_batch& demos, O& reward_opt,
                 I& improver, Mode mode = {}, Ob&& observer = {}) const {
    static_assert(Policy<P>, "juice::rft: P must satisfy juice::Policy; see docs/concepts.md#policy");
    static_assert(RewardModel<R>, "juice::rft: R must satisfy juice::RewardModel; see docs/concepts.md#rewardmodel");
    static_assert(Optimizer<O, R>, "juice::rft: O must satisfy juice::Optimizer<R> (a step(model) member); see docs/concepts.md#optimizer");
    static_assert(PolicyImprover<I, P, R>, "juice::rft: I must satisfy juice::PolicyImprover<P, R> (an improve(policy, reference, reward, prompts, beta, rng) member); see docs/concepts.md#policyimprover");
    static_assert(is_generation_mode_v<Mode>, "juice::rft: the mode must be juice::sampled or juice::exact.");
    static_assert(Observer<Ob>, "juice::rft: the observer must be callable with a const juice::step_event&; see docs/concepts.md#observer");
    using RS = typename R::scalar_type;
    detail::check_demonstrations(demos, "juice::rft");

    rng g(options_.seed);
    detail::minibatches batches(demos.rows(), options_.batch_size);
    rft_result result;
    // One reward step on `pairs`; returns its loss and squared gradient norm.
    auto reward_step = [&](const pair_batch& pairs, const sequence_batch& both, const std::string& where) {
      const auto r = reward.rewards(both);
      sequence_values<RS> w;
      const double loss = rft_reward_loss<Loss>(pairs, r, margin_scale(), &w) + l2_penalty(reward, options_.l2);
      const double gn = detail::gradient_step(reward, reward_opt, loss, "reward loss", where, [&] {
        reward.backward(both, w);
        add_l2_gradient(reward, options_.l2);
      });
      ++result.updates;
      result.last_loss = loss;
      return std::pair{loss, gn};
    };
    auto draw_pairs = [&] {
      sequence_batch data = select_rows(demos, batches.next(g));
      normalise_weights(data);
      const sequence_batch prompts = prompts_of(data);
      pair_batch pairs = make_pairs(data, generate(policy, prompts, mode, g));
      return std::pair{prompts, std::move(pairs)};
    };
    for (std::size_t k = 0; k < options_.reward_warmup; ++k) {
      const auto [prompts, pairs] = draw_pairs();
      const sequence_batch both = concat_rows(pairs.chosen, pairs.rejected);
      const auto [loss, gn] = reward_step(pairs, both, "juice::rft reward warm-up step " + std::to_string(k));
      ++result.warmup_updates;
      observer(step_event{.algorithm = "rft.reward_warmup", .step = k, .global_step = result.updates, .loss = loss, .grad_norm_sq = gn});
    }
    for (std::size_t it = 0; it < options_.iterations; ++it) {
      const auto [prompts, pairs] = draw_pairs();
      const sequence_batch both = concat_rows(pairs.chosen, pairs.rejected);

      for (std::size_t k = 0; k < options_.reward_steps; ++k) {
        const auto [loss, gn] = reward_step(pairs, both, "juice::rft iteration " + std::to_string(it) + " reward step " + std::to_string(k));
        observer(step_event{.algorithm = "rft.reward", .round = it, .step = k, .global_step = result.updates, .loss = loss, .grad_norm_sq = gn, .round_start = k == 0});
      }
      for (std::size_t k = 0; k < options_.policy_steps; ++k) {
        improver.improve(policy, reference, reward, prompts, options_.beta, g);
        observer(step_event{.algorithm = "rft.policy", .round = it, .step = k, .global_step = result.updates});
      }
    }
    return result;
  }

private:
  rft_options options_;
};

using rft = rft_trainer<logistic_loss>;
using rft_logistic = rft_trainer<logistic_loss>;
using rft_linear = rft_trainer<linear_loss>;

}  // namespace juice
