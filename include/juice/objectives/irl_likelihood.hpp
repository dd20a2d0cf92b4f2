// juice/objectives/irl_likelihood.hpp
//
// The exact maximum-likelihood inverse-RL objective of Li et al. (NeurIPS 2024) for a reward model
// and an enumerable reference policy:
//   pi_theta(y|x) = pi_ref(y|x) exp(r_theta(x,y)/beta) / Z_theta(x)
//   l(theta)      = E_D[ r(x,y)/beta + log pi_ref(y|x) ] - E_x[ log Z_theta(x) ]
//   grad l(theta) = (1/beta) ( E_D[grad r(x,y)] - E_{x, y~pi_theta}[grad r(x,y)] )
// computed by enumerating every response. Both RFT's linear reward loss and IRFT's round-start
// gradient estimate grad l; this is the exact value they are tested against.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "juice/concepts/policy.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"

namespace juice {

struct irl_likelihood_options {
  double beta = 1.0;
  bool accumulate_gradient = false;  // add grad l(theta) to the reward model's gradients
};

// l(theta) over the (weighted, normalised) demonstrations. With accumulate_gradient the reward
// model's gradients get + grad l(theta) (call zero_grad() first for the gradient alone).
template <EnumerablePolicy P, RewardModel R>
double irl_log_likelihood(const P& reference, R& reward, const sequence_batch& demos,
                          const irl_likelihood_options& options = {}) {
  using S = typename R::scalar_type;
  if (!(options.beta > 0)) throw invalid_argument("juice::irl_log_likelihood: beta must be positive.");
  sequence_batch data = demos;
  normalise_weights(data);
  const sequence_batch all = reference.enumerate(prompts_of(data));  // weight = w_x pi_ref(y|x)
  const sequence_batch both = concat_rows(data, all);
  const std::size_t N = data.rows(), E = all.rows();
  const auto r = reward.rewards(both);
  const auto ref_logp = sequence_sum(reference.logprobs(data), data);

  // log Z(x) per data row: log sum_y pi_ref(y|x) exp(r(x,y)/beta), over the rows generated from it.
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> log_z(N, ninf);
  std::vector<double> log_ref(E);
  for (std::size_t e = 0; e < E; ++e) {
    const auto x = static_cast<std::size_t>(all.source(e));
    log_ref[e] = std::log(all.weight(e) / data.weight(x));
    const double v = log_ref[e] + static_cast<double>(r(N + e)) / options.beta;
    log_z[x] = log_z[x] == ninf ? v : std::max(log_z[x], v) + std::log1p(std::exp(-std::abs(log_z[x] - v)));
  }
  double l = 0;
  for (std::size_t i = 0; i < N; ++i)
    l += data.weight(i) * (static_cast<double>(r(i)) / options.beta + ref_logp(i) - log_z[i]);

  if (options.accumulate_gradient) {
    sequence_values<S> w = xt::zeros<S>({N + E});
    for (std::size_t i = 0; i < N; ++i) w(i) = static_cast<S>(data.weight(i) / options.beta);
    for (std::size_t e = 0; e < E; ++e) {
      const auto x = static_cast<std::size_t>(all.source(e));
      const double pi_theta = std::exp(log_ref[e] + static_cast<double>(r(N + e)) / options.beta - log_z[x]);
      w(N + e) = static_cast<S>(-data.weight(x) * pi_theta / options.beta);
    }
    reward.backward(both, w);
  }
  return l;
}

}  // namespace juice
