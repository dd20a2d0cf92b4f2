// juice/algorithms/irft/irft.hpp
//
// IRFT, implicit reward fine-tuning (Li, Zeng, Wai, Li, Garcia, Hong, "Getting More Juice Out of the
// SFT Data: Reward Learning from Human Demonstration Improves SFT for LLM Alignment", NeurIPS 2024,
// Algorithm 2). The reward is the policy's own log-ratio to a reference,
//   r_theta(x,y) = beta log(pi_theta(y|x) / pi_ref(y|x)),
// and the reference is the current policy frozen at the start of each of T rounds. Each round
// generates y~ ~ pi_ref for its prompts, caches log pi_ref(y|x) and log pi_ref(y~|x) once, and runs K
// contrastive steps on
//   z = beta [(log pi_theta(y|x) - log pi_ref(y|x)) - (log pi_theta(y~|x) - log pi_ref(y~|x))],
//   loss = sum_pairs w h(z).
// SPIN (self-play fine-tuning, Chen et al. 2024) is IRFT with one round over the whole data; its
// iterations are rounds without chunking.
//
// Protocol options: how y~ is decoded (sampling: temperature, top-k/top-p, 0 = greedy, as the
// authors' generation script does), how many y~ per prompt (the mode, juice::sampled{n}), an SFT
// term alpha * NLL(y) of the demonstrations added to the contrastive loss (alpha = 0 is the paper's
// IRFT; a positive alpha keeps the demonstrations' likelihood from falling with the rejected one's,
// the known failure of DPO-style losses), and passes per round (a round's step count set by how many
// times it sees its pairs, so that each generation is used about once, as the authors' stagewise
// runs do), with the chunks cycled when there are more rounds than chunks.
//
// Reference log-probs are computed once per round with the policy itself (it equals pi_ref then),
// so no second model is resident during the inner steps; the online variant (regenerating y~ with
// probability p) is the exception: it keeps a snapshot to score fresh samples.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
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
#include "juice/core/batch_ops.hpp"
#include "juice/core/events.hpp"
#include "juice/core/rng.hpp"
#include "juice/core/sampling.hpp"
#include "juice/optim/gradients.hpp"

namespace juice {

struct irft_options {
  double beta = 0.1;                // KL weight of the implicit reward
  std::size_t rounds = 5;           // T: reference refreshes
  std::size_t steps_per_round = 1;  // K: optimizer updates per round
  std::size_t batch_size = 0;       // pairs per update; 0 = all of the round's pairs, weighted
  bool chunk_rounds = true;         // round t uses the t-th 1/T of the data (the paper's "stages")
  double online_probability = 0;    // p: regenerate a minibatch's y~ with the current policy
  std::uint64_t seed = 0;           // generation and minibatch order
  // How pi_ref decodes y~ (temperature 0 = greedy); unset = the policy's own setting. Needs a policy
  // with a generation() member holding `sampling` (the transformer).
  std::optional<sampling_options> sampling{};
  double sft_alpha = 0;              // alpha: adds alpha * sum_pairs w NLL(y) of the demonstrations
  std::size_t passes_per_round = 0;  // > 0: a round makes passes * ceil(pairs / batch) steps (K unused)
  std::size_t chunks = 0;            // with chunk_rounds: the data's chunks (0 = rounds); round t uses chunk t mod chunks
};

// The optimizer steps of a round over `pairs` pairs: passes * ceil(pairs / batch) when passes are
// given (a whole-data batch counts one step per pass), else steps_per_round.
inline std::size_t irft_round_steps(const irft_options& o, std::size_t pairs) {
  if (o.passes_per_round == 0) return o.steps_per_round;
  const std::size_t b = o.batch_size == 0 || o.batch_size >= pairs ? pairs : o.batch_size;
  return o.passes_per_round * ((pairs + b - 1) / b);
}

// The IRFT loss and its per-token weights for one minibatch of pairs.
//   both      = concat_rows(pairs.chosen, pairs.rejected)
//   logp      = per-token log-probs of `both` under pi_theta
//   ref       = cached log pi_ref of the chosen rows followed by the rejected rows (2N)
// Returns sum_i w_i h(z_i) + alpha sum_i w_i (-log pi_theta(y_i|x_i)); writes dLoss/dlogp into
// *weights (chosen: w h'(z) beta - alpha w, rejected: -w h'(z) beta). alpha = 0 (the paper's IRFT)
// leaves the contrastive loss and its weights untouched.
template <PairwiseLoss Loss, class S>
double irft_loss(const pair_batch& pairs, const sequence_batch& both, const token_values<S>& logp,
                 std::span<const double> ref, double beta, token_values<S>* weights = nullptr,
                 std::vector<double>* margins = nullptr, double sft_alpha = 0) {
  const std::size_t N = pairs.rows();
  const auto seq = sequence_sum(logp, both);
  std::vector<double> z(N), c;
  for (std::size_t i = 0; i < N; ++i) z[i] = beta * ((seq(i) - ref[i]) - (seq(N + i) - ref[N + i]));
  double loss = pairwise_margin_loss<Loss>(pairs, z, beta, weights ? &c : nullptr);
  if (sft_alpha != 0) {
    double nll = 0;
    for (std::size_t i = 0; i < N; ++i) nll -= pairs.weight(i) * seq(i);
    loss += sft_alpha * nll;
  }
  if (margins) *margins = z;
  if (!weights) return loss;
  std::vector<double> per_row(2 * N);
  for (std::size_t i = 0; i < N; ++i) {
    per_row[i] = sft_alpha != 0 ? c[i] - sft_alpha * pairs.weight(i) : c[i];
    per_row[N + i] = -c[i];
  }
  *weights = spread_over_response<S>(per_row, both);
  return loss;
}

// log pi(y|x) of every chosen row, then of every rejected row, in one scoring pass: the reference
// log-probs IRFT caches for a round (the policy equals pi_ref when they are taken). P may be const
// where the policy scores through a const logprobs (the transformer's does; the concept asks for a
// non-const one only).
template <class P>
requires Policy<std::remove_const_t<P>>
    std::vector<double> irft_reference_logprobs(P& policy, const pair_batch& pairs) {
  const sequence_batch both = concat_rows(pairs.chosen, pairs.rejected);
  const auto seq = sequence_sum(policy.logprobs(both), both);
  return std::vector<double>(seq.begin(), seq.end());
}

// One minibatch of a round's preparation: y~ ~ pi_ref(.|x) for the demonstrations `data` and the
// reference log-probs of both (chosen rows first, then rejected). A caller that prepares a round in
// minibatches of its batch size, keeping only the pairs' tokens and these numbers, holds one
// minibatch's activations at a time, so its peak memory is set by the batch size, not the data set.
struct irft_prepared {
  pair_batch pairs;
  std::vector<double> ref;
};

template <class P, class Mode = sampled>
requires Policy<std::remove_const_t<P>>
    irft_prepared irft_prepare(P& policy, const sequence_batch& data, rng& g, Mode mode = {}) {
  pair_batch pairs = make_pairs(data, generate(policy, prompts_of(data), mode, g));
  std::vector<double> ref = irft_reference_logprobs(policy, pairs);
  return {std::move(pairs), std::move(ref)};
}

// What one round started from: the mean log pi_ref of its demonstrations and of its generations y~
// (pair-weighted; pi_ref is the policy at the round's start), and its pairs and steps.
struct irft_round_record {
  std::size_t pairs = 0;
  std::size_t updates = 0;
  double demo_loglik = 0;
  double generation_loglik = 0;
  double passes = 0;  // how many times the round's steps went over its pairs (updates * batch / pairs)
};

struct irft_result {
  std::size_t updates = 0;
  double last_loss = 0;
  std::vector<irft_round_record> rounds;
};

namespace detail {

// Sets the policy's decoding for the duration of a scope (restored on exit), where asked.
template <class P>
class scoped_sampling {
public:
  scoped_sampling(P& policy, const std::optional<sampling_options>& s) {
    if (!s) return;
    if constexpr (requires { policy.generation().sampling; }) {
      validate(*s);
      policy_ = &policy;
      keep_ = policy.generation().sampling;
      policy.generation().sampling = *s;
    } else {
      throw invalid_argument("juice::irft: sampling options were given but the policy has no generation() settings to apply them to.");
    }
  }
  scoped_sampling(const scoped_sampling&) = delete;
  scoped_sampling& operator=(const scoped_sampling&) = delete;
  ~scoped_sampling() {
    if constexpr (requires(P & p) { p.generation().sampling; })
      if (policy_) policy_->generation().sampling = keep_;
  }

private:
  P* policy_ = nullptr;
  sampling_options keep_{};
};

}  // namespace detail

template <PairwiseLoss Loss>
class irft_trainer {
public:
  using loss_type = Loss;

  explicit irft_trainer(irft_options options = {}) : options_(options) { check(options_); }

  [[nodiscard]] const irft_options& options() const { return options_; }

  // Runs T rounds of K updates of `policy` on the demonstrations. Mode: juice::sampled{n} draws y~,
  // juice::exact{} enumerates them (EnumerablePolicy only).
  template <class P, class O, class Mode = sampled, class Ob = null_observer>
  irft_result run(P& policy, const sequence_batch& demos, O& opt, Mode mode = {}, Ob&& observer = {}) const {
    static_assert(Policy<P>, "juice::irft: P must satisfy juice::Policy; see docs/concepts.md#policy");
    static_assert(Optimizer<O, P>, "juice::irft: O must satisfy juice::Optimizer<P> (a step(model) member); see docs/concepts.md#optimizer");
    static_assert(is_generation_mode_v<Mode>, "juice::irft: the mode must be juice::sampled or juice::exact.");
    static_assert(Observer<Ob>, "juice::irft: the observer must be callable with a const juice::step_event&; see docs/concepts.md#observer");
    using S = typename P::scalar_type;
    detail::check_demonstrations(demos, "juice::irft");
    const std::size_t T = options_.rounds, N = demos.rows();
    const std::size_t C = options_.chunks == 0 ? T : options_.chunks;
    if (options_.chunk_rounds && N < C)
      throw invalid_argument("juice::irft: " + std::to_string(N) + " demonstrations cannot be split into " +
                             std::to_string(C) + (options_.chunks == 0 ? " rounds; lower rounds" : " chunks; lower chunks") +
                             " or set chunk_rounds = false.");
    if (std::is_same_v<Mode, exact> && options_.online_probability > 0)
      throw invalid_argument("juice::irft: online regeneration (online_probability > 0) needs juice::sampled generation.");

    rng g(options_.seed);
    irft_result result;
    for (std::size_t t = 0; t < T; ++t) {
      const std::string where = "juice::irft round " + std::to_string(t);
      // The round's demonstrations.
      std::vector<std::size_t> chunk;
      const std::size_t c = t % C;
      const std::size_t lo = options_.chunk_rounds ? c * N / C : 0, hi = options_.chunk_rounds ? (c + 1) * N / C : N;
      for (std::size_t i = lo; i < hi; ++i) chunk.push_back(i);
      sequence_batch data = select_rows(demos, chunk);
      normalise_weights(data);

      // pi_ref := pi_theta_t. Generate y~ and cache the reference log-probs once for the round.
      sequence_batch generated;
      {
        const detail::scoped_sampling<P> decoding(policy, options_.sampling);
        generated = generate(policy, prompts_of(data), mode, g);
      }
      pair_batch pairs = make_pairs(data, generated);
      std::vector<double> ref = irft_reference_logprobs(policy, pairs);
      std::optional<P> frozen;
      if (options_.online_probability > 0) frozen.emplace(policy.snapshot());
      irft_round_record record{.pairs = pairs.rows(), .updates = irft_round_steps(options_, pairs.rows())};
      const std::size_t per_step = options_.batch_size == 0 || options_.batch_size >= pairs.rows() ? pairs.rows() : options_.batch_size;
      record.passes = static_cast<double>(record.updates * per_step) / static_cast<double>(pairs.rows());
      double wsum = 0;
      for (std::size_t i = 0; i < pairs.rows(); ++i) wsum += pairs.weight(i);
      for (std::size_t i = 0; i < pairs.rows(); ++i) {
        const double w = wsum > 0 ? pairs.weight(i) / wsum : 1.0 / static_cast<double>(pairs.rows());
        record.demo_loglik += w * ref[i];
        record.generation_loglik += w * ref[pairs.rows() + i];
      }
      result.rounds.push_back(record);

      detail::minibatches batches(pairs.rows(), options_.batch_size);
      for (std::size_t k = 0; k < record.updates; ++k) {
        const auto idx = batches.next(g);
        pair_batch mb = select_pairs(pairs, idx);
        std::vector<double> mb_ref(2 * idx.size());
        for (std::size_t i = 0; i < idx.size(); ++i) {
          mb_ref[i] = ref[idx[i]];
          mb_ref[idx.size() + i] = ref[pairs.rows() + idx[i]];
        }
        if (frozen && g.uniform() < options_.online_probability) {
          // Online variant: fresh y~ from the current policy, scored by the round's reference.
          sequence_batch prompts = prompts_of(mb.chosen);
          for (std::size_t i = 0; i < prompts.rows(); ++i) prompts.weight(i) = mb.weight(i);
          mb.rejected = policy.sample(prompts, 1, g);
          const auto fresh = sequence_sum(frozen->logprobs(mb.rejected), mb.rejected);
          for (std::size_t i = 0; i < idx.size(); ++i) mb_ref[idx.size() + i] = fresh(i);
        }
        const sequence_batch both = concat_rows(mb.chosen, mb.rejected);
        const auto logp = policy.logprobs(both);
        token_values<S> w;
        const double loss = irft_loss<Loss>(mb, both, logp, mb_ref, options_.beta, &w, nullptr, options_.sft_alpha);
        const std::string step_where = where + " step " + std::to_string(k);
        const double gn = detail::gradient_step(policy, opt, loss, "loss", step_where, [&] { policy.backward(both, w); });
        ++result.updates;
        result.last_loss = loss;
        observer(step_event{.algorithm = "irft", .round = t, .step = k, .global_step = result.updates, .loss = loss, .grad_norm_sq = gn, .round_start = k == 0});
      }
    }
    return result;
  }

private:
  static void check(const irft_options& o) {
    if (!(o.beta > 0)) throw invalid_argument("juice::irft: beta must be positive (got " + to_text(o.beta) + ").");
    if (o.rounds == 0) throw invalid_argument("juice::irft: rounds (T) must be at least 1.");
    if (!(o.sft_alpha >= 0) || !std::isfinite(o.sft_alpha))
      throw invalid_argument("juice::irft: sft_alpha must be finite and non-negative (got " + to_text(o.sft_alpha) + ").");
    if (o.sampling) validate(*o.sampling);
    if (!(o.online_probability >= 0 && o.online_probability <= 1))
      throw invalid_argument("juice::irft: online_probability must lie in [0, 1] (got " +
                             to_text(o.online_probability) + ").");
  }

  irft_options options_;
};

using irft = irft_trainer<sigmoid_loss>;
using irft_sigmoid = irft_trainer<sigmoid_loss>;
using irft_hinge = irft_trainer<hinge_loss>;
using irft_linear = irft_trainer<linear_loss>;
using irft_ipo = irft_trainer<ipo_loss>;

// SPIN: IRFT with one round over the whole data (T = 1, no chunking); K = `steps`.
template <PairwiseLoss Loss = sigmoid_loss>
class spin_trainer : public irft_trainer<Loss> {
public:
  explicit spin_trainer(double beta = 0.1, std::size_t steps = 1, std::size_t batch_size = 0, std::uint64_t seed = 0)
      : irft_trainer<Loss>(irft_options{.beta = beta, .rounds = 1, .steps_per_round = steps, .batch_size = batch_size, .chunk_rounds = false, .online_probability = 0.0, .seed = seed}) {}
};

using spin = spin_trainer<sigmoid_loss>;

}  // namespace juice
