// juice/algorithms/sft/sft.hpp
//
// Supervised fine-tuning: min_theta -E_D[log pi_theta(y|x)], the baseline that reward learning
// from demonstrations improves on (Li et al., "Getting More Juice Out of the SFT Data", NeurIPS
// 2024). log pi(y|x) is the sum of response-token log-probs; with token_mean normalisation the loss
// is divided by the (weighted) number of response tokens instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "juice/algorithms/detail/demonstrations.hpp"
#include "juice/algorithms/detail/gradient_step.hpp"
#include "juice/algorithms/detail/minibatches.hpp"
#include "juice/concepts/observer.hpp"
#include "juice/concepts/optimizer.hpp"
#include "juice/concepts/policy.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/events.hpp"
#include "juice/core/rng.hpp"
#include "juice/optim/gradients.hpp"

namespace juice {

enum class sft_normalisation {
  sequence_sum,  // -sum_b w_b log pi(y_b|x_b)                      (the paper's code)
  token_mean,    // -sum_b w_b log pi(y_b|x_b) / sum_b w_b |y_b|
};

struct sft_options {
  std::size_t steps = 200;     // optimizer updates
  std::size_t batch_size = 0;  // rows per update; 0 = the whole data set, weighted
  sft_normalisation normalisation = sft_normalisation::sequence_sum;
  std::uint64_t seed = 0;  // minibatch order
};

struct sft_result {
  std::size_t updates = 0;
  double last_loss = 0;
};

// The SFT loss of `batch` under the given per-token log-probs, and the per-token weights dLoss/dlogp.
template <class S>
double sft_loss(const sequence_batch& batch, const token_values<S>& logp, sft_normalisation norm,
                token_values<S>* weights = nullptr) {
  double denom = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b)
    denom += norm == sft_normalisation::token_mean ? batch.weight(b) * static_cast<double>(batch.response_length(b))
                                                   : batch.weight(b);
  if (!(denom > 0)) throw invalid_argument("juice::sft: the batch has no weighted response tokens.");
  const auto seq = sequence_sum(logp, batch);
  std::vector<double> per_row(batch.rows());
  double loss = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b) {
    loss -= batch.weight(b) * seq(b) / denom;
    per_row[b] = -batch.weight(b) / denom;
  }
  if (weights) *weights = spread_over_response<S>(per_row, batch);
  return loss;
}

class sft {
public:
  explicit sft(sft_options options = {}) : options_(options) {}

  [[nodiscard]] const sft_options& options() const { return options_; }

  // Runs options().steps updates of `policy` on the demonstrations with the optimizer `opt`.
  template <class P, class O, class Ob = null_observer>
  sft_result run(P& policy, const sequence_batch& demos, O& opt, Ob&& observer = {}) const {
    static_assert(Policy<P>, "juice::sft: P must satisfy juice::Policy; see docs/concepts.md#policy");
    static_assert(Optimizer<O, P>, "juice::sft: O must satisfy juice::Optimizer<P> (a step(model) member); see docs/concepts.md#optimizer");
    static_assert(Observer<Ob>, "juice::sft: the observer must be callable with a const juice::step_event&; see docs/concepts.md#observer");
    using S = typename P::scalar_type;
    detail::check_demonstrations(demos, "juice::sft");
    rng g(options_.seed);
    detail::minibatches batches(demos.rows(), options_.batch_size);
    sft_result result;
    for (std::size_t step = 0; step < options_.steps; ++step) {
      const auto idx = batches.next(g);
      sequence_batch mb = select_rows(demos, idx);
      normalise_weights(mb);
      const auto logp = policy.logprobs(mb);
      token_values<S> w;
      const double loss = sft_loss(mb, logp, options_.normalisation, &w);
      const std::string where = "juice::sft step " + std::to_string(step);
      const double gn = detail::gradient_step(policy, opt, loss, "loss", where, [&] { policy.backward(mb, w); });
      result.updates = step + 1;
      result.last_loss = loss;
      observer(step_event{.algorithm = "sft", .step = step, .global_step = step + 1, .loss = loss, .grad_norm_sq = gn});
    }
    return result;
  }

private:
  sft_options options_;
};

}  // namespace juice
