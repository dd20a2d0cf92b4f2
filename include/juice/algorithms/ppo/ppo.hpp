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
//
// Data parallelism (juice/optim/data_parallel.hpp): with a collective optimizer (one with a
// reducer(), as juice::all_reduced has) each rank improves on its own slice of the prompts and the
// improver makes the iteration the whole batch's: c_t's denominator, the advantages' whitening
// (weighted count, sum and sum of squares) and the statistics are summed over the group
// (all_reduce_sum), the loss weights are scaled by the group's size (all_reduced averages the
// gradients), and the gradient is clipped by all_reduced after the average, so ppo's own
// max_grad_norm must be 0 there. The rollout of each prompt comes from its own stream, keyed by the
// prompt's index in the whole batch (ppo_streams), so it does not depend on how the prompts are
// split (ppo_streams; improve(..., rng&) samples the batch from one generator, as one process may).
// With a plain optimizer the sums are the rank's own: one process is the group of one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "juice/algorithms/ppo/value_policy.hpp"
#include "juice/concepts/optimizer.hpp"
#include "juice/concepts/policy.hpp"
#include "juice/concepts/policy_improver.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/batch_ops.hpp"
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

// sum_b weight_b |y_b|: c_t's denominator.
inline double ppo_token_mass(const sequence_batch& batch) {
  double denom = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b) denom += batch.weight(b) * static_cast<double>(batch.response_length(b));
  return denom;
}

// c_t: each response token's weight, row weight / sum_b weight_b |y_b|; `denom`, when given, is the
// denominator of the whole batch this one is a slice of (data parallelism).
inline token_values<double> ppo_token_weights(const sequence_batch& batch, std::optional<double> whole = std::nullopt) {
  const double denom = whole ? *whole : ppo_token_mass(batch);
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
                     double* clipped_fraction = nullptr, std::optional<double> whole = std::nullopt) {
  const auto c = ppo_token_weights(batch, whole);
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
                      double value_coef, token_values<S>* weights = nullptr, std::optional<double> whole = std::nullopt) {
  const auto c = ppo_token_weights(batch, whole);
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

// Where the rollouts draw from, for improve(..., ppo_streams): prompt b of an improve() call is prompt first + b of the whole
// batch (the rank's slice starts at `first`), and its samples_per_prompt rollouts are sampled, as
// one batch of their own, from rng::stream(key, first + b).
struct ppo_streams {
  std::uint64_t key = 0;
  std::size_t first = 0;
};

template <class Opt = adamw>
class ppo_improver {
public:
  using optimizer_type = Opt;

  explicit ppo_improver(ppo_options options = {}, Opt optimizer = Opt{}) : options_(options), opt_(std::move(optimizer)) {
    if (options_.samples_per_prompt == 0 || options_.epochs == 0)
      throw invalid_argument("juice::ppo: samples_per_prompt and epochs must be at least 1.");
    if (!(options_.clip > 0)) throw invalid_argument("juice::ppo: clip must be positive (got " + std::to_string(options_.clip) + ").");
    if (collective && options_.max_grad_norm > 0)
      throw invalid_argument("juice::ppo: max_grad_norm must be 0 with a data-parallel optimizer (got " + std::to_string(options_.max_grad_norm) +
                             "); the averaged gradient is clipped by juice::all_reduced's max_grad_norm.");
  }

  [[nodiscard]] const ppo_options& options() const { return options_; }
  // The policy optimizer (its state persists across improve() calls).
  Opt& optimizer() { return opt_; }
  [[nodiscard]] const ppo_stats& last_stats() const { return stats_; }

  // One PPO iteration on fresh rollouts for `prompts` (see the header comment), sampled as one
  // batch from g. Constrained, so that juice::PolicyImprover<ppo, P, R> is false unless P is a
  // juice::ValuePolicy (a Policy with a value head: logprobs_and_values and backward(batch,
  // logp_weights*, value_weights*); see juice/algorithms/ppo/value_policy.hpp) and R a
  // juice::RewardModel. On several ranks call the ppo_streams overload with each rank's slice.
  template <ValuePolicy P, RewardModel R>
  requires Optimizer<Opt, P>
  void improve(P& policy, const P& reference, R& reward, const sequence_batch& prompts, double beta, rng& g) {
    iterate(policy, reference, reward, policy.sample(prompts, options_.samples_per_prompt, g), beta);
  }

  // The same with each prompt's rollouts from its own stream (ppo_streams): on a group of ranks every
  // rank passes the same key and the index of its first prompt in the whole batch (a collective:
  // every rank calls it).
  template <ValuePolicy P, RewardModel R>
  requires Optimizer<Opt, P>
  void improve(P& policy, const P& reference, R& reward, const sequence_batch& prompts, double beta, ppo_streams streams) {
    iterate(policy, reference, reward, sample_rollout(policy, prompts, streams), beta);
  }

private:
  template <class P, class R>
  void iterate(P& policy, const P& reference, R& reward, const sequence_batch& rollout, double beta) {
    using S = typename P::scalar_type;
    const auto raw_score = reward.rewards(rollout);
    sequence_values<S> score = xt::zeros<S>({rollout.rows()});
    for (std::size_t b = 0; b < rollout.rows(); ++b) score(b) = static_cast<S>(raw_score(b));
    const auto ref = reference.logprobs(rollout);
    const auto [old_logp, values0] = policy.logprobs_and_values(rollout);
    auto [adv, returns] = ppo_advantages<S>(score, old_logp, ref, values0, rollout, beta, options_.gamma, options_.lambda);
    const double local_mass = ppo_token_mass(rollout);
    std::vector<double> mass{local_mass};
    sum_over_group(mass);  // c_t's denominator: the whole batch's weighted response tokens
    const double whole = mass[0];
    if (options_.normalise_advantages) whiten(adv, rollout, whole);

    stats_ = ppo_stats{};
    std::vector<double> sums(3, 0.0);  // weighted score, weighted KL, weight
    for (std::size_t b = 0; b < rollout.rows(); ++b) {
      sums[0] += rollout.weight(b) * static_cast<double>(score(b));
      for (auto t = rollout.prompt_length(b); t < rollout.length(b); ++t)
        sums[1] += rollout.weight(b) * static_cast<double>(old_logp(b, static_cast<std::size_t>(t)) - ref(b, static_cast<std::size_t>(t)));
      sums[2] += rollout.weight(b);
    }
    const auto ranks = static_cast<S>(group_size());
    std::vector<double> losses(4, 0.0);  // first loss, last loss, clipped token mass (last epoch), token mass
    for (std::size_t e = 0; e < options_.epochs; ++e) {
      const std::string where = "juice::ppo epoch " + std::to_string(e);
      const auto [logp, values] = e == 0 ? std::pair{old_logp, values0} : policy.logprobs_and_values(rollout);
      token_values<S> wl, wv;
      double cf = 0;
      const double loss = ppo_clip_loss(rollout, logp, old_logp, adv, options_.clip, &wl, &cf, whole) +
                          ppo_value_loss(rollout, values, returns, options_.value_coef, &wv, whole);
      if (e == 0) losses[0] = loss;
      losses[1] = loss;
      losses[3] = whole > 0 ? local_mass / whole : 0.0;
      losses[2] = cf * losses[3];
      if (ranks > 1) {  // this rank's term of the whole batch's loss; all_reduced averages the gradients
        wl *= ranks;
        wv *= ranks;
      }
      policy.zero_grad();
      policy.backward(rollout, &wl, &wv);
      const double gn = options_.max_grad_norm > 0 ? clip_grad_norm(policy, options_.max_grad_norm) : std::sqrt(grad_norm_sq(policy));
      // After the backward pass, on every rank alike (a data-parallel optimizer: data_parallel.hpp).
      check_finite_everywhere(opt_, {{"loss", loss}, {"gradient norm", gn}}, where);
      opt_.step(policy);
    }
    sums.insert(sums.end(), losses.begin(), losses.end());
    sum_over_group(sums);
    if (sums[2] > 0) {
      stats_.mean_score = sums[0] / sums[2];
      stats_.kl = sums[1] / sums[2];
    }
    stats_.first_loss = sums[3];
    stats_.last_loss = sums[4];
    stats_.clipped_fraction = sums[6] > 0 ? sums[5] / sums[6] : 0.0;
  }

  // Whether the optimizer is collective (juice::all_reduced): the sums are the group's.
  static constexpr bool collective = requires(Opt & o, std::span<double> s) { o.reducer().all_reduce_sum(s); };

  void sum_over_group(std::span<double> s) {
    if constexpr (collective) opt_.reducer().all_reduce_sum(s);
  }
  [[nodiscard]] std::size_t group_size() {
    if constexpr (collective) return static_cast<std::size_t>(opt_.reducer().size());
    else return 1;
  }

  // Each prompt's samples_per_prompt rollouts, sampled as a batch of their own from the prompt's
  // stream, so that a rollout never depends on the other prompts; source(row) is the prompt's row.
  template <class P>
  sequence_batch sample_rollout(P& policy, const sequence_batch& prompts, ppo_streams streams) const {
    std::vector<sequence_batch> parts;
    parts.reserve(prompts.rows());
    std::size_t rows = 0, width = 0;
    for (std::size_t b = 0; b < prompts.rows(); ++b) {
      rng g = rng::stream(streams.key, streams.first + b);
      parts.push_back(policy.sample(select_rows(prompts, std::span<const std::size_t>(&b, 1)), options_.samples_per_prompt, g));
      rows += parts.back().rows();
      width = std::max(width, parts.back().width());
    }
    sequence_batch out(rows, width);
    std::size_t r = 0;
    for (std::size_t b = 0; b < parts.size(); ++b)
      for (std::size_t k = 0; k < parts[b].rows(); ++k, ++r) {
        const sequence_batch& p = parts[b];
        std::copy_n(&p.tokens(k, 0), p.width(), &out.tokens(r, 0));
        out.prompt_length(r) = p.prompt_length(k);
        out.length(r) = p.length(k);
        out.weight(r) = p.weight(k);
        out.source(r) = static_cast<std::int32_t>(b);
      }
    return out;
  }

  // Whitens the advantages over the response tokens with the weights c_t of the whole batch (which
  // sum to 1 over it): the weighted mean, then the weighted variance about it, in two passes each
  // summed over the group, as one process computes them on the whole batch.
  template <class S>
  void whiten(token_values<S>& adv, const sequence_batch& batch, double whole) {
    const auto c = ppo_token_weights(batch, whole);
    std::vector<double> mean{0.0}, var{0.0};
    for (std::size_t i = 0; i < adv.size(); ++i) mean[0] += c.data()[i] * static_cast<double>(adv.data()[i]);
    sum_over_group(mean);
    for (std::size_t i = 0; i < adv.size(); ++i) {
      const double d = static_cast<double>(adv.data()[i]) - mean[0];
      var[0] += c.data()[i] * d * d;
    }
    sum_over_group(var);
    const double inv = 1.0 / std::sqrt(var[0] + 1e-8);
    for (std::size_t i = 0; i < adv.size(); ++i)
      if (c.data()[i] > 0) adv.data()[i] = static_cast<S>((static_cast<double>(adv.data()[i]) - mean[0]) * inv);
  }

  ppo_options options_;
  Opt opt_;
  ppo_stats stats_;
};

using ppo = ppo_improver<adamw>;

}  // namespace juice
