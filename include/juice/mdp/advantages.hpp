// juice/mdp/advantages.hpp
//
// Per-token credit assignment on the token-level MDP (DESIGN.md section 2): discounted returns,
// generalised advantage estimation (Schulman et al., "High-Dimensional Continuous Control Using
// Generalized Advantage Estimation", ICLR 2016) and the KL-penalised per-token rewards of RLHF
// (Ouyang et al. 2022; Ziegler et al. 2019). All values live on the response positions of a
// sequence_batch (position t holds the value for the action y_t); every response ends its episode,
// so the value after the last response token is zero.
#pragma once

#include <cstddef>

#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"

namespace juice::mdp {

// G_t = sum_{k >= t} gamma^{k-t} r_k over each row's response.
template <class T>
token_values<T> discounted_returns(const token_values<T>& rewards, const sequence_batch& batch, double gamma) {
  token_values<T> out = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b) {
    double g = 0;
    for (auto t = batch.length(b); t-- > batch.prompt_length(b);) {
      g = static_cast<double>(rewards(b, t)) + gamma * g;
      out(b, t) = static_cast<T>(g);
    }
  }
  return out;
}

// A_t = sum_{k >= t} (gamma lambda)^{k-t} delta_k,  delta_k = r_k + gamma V_{k+1} - V_k, V_end = 0.
// lambda = 1 gives returns minus values; lambda = 0 gives the one-step TD errors.
template <class T>
token_values<T> gae(const token_values<T>& rewards, const token_values<T>& values, const sequence_batch& batch,
                    double gamma, double lambda) {
  if (!(gamma >= 0 && gamma <= 1) || !(lambda >= 0 && lambda <= 1))
    throw invalid_argument("juice::mdp::gae: gamma and lambda must lie in [0, 1].");
  token_values<T> out = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b) {
    double a = 0, next_value = 0;
    for (auto t = batch.length(b); t-- > batch.prompt_length(b);) {
      const double v = static_cast<double>(values(b, t));
      const double delta = static_cast<double>(rewards(b, t)) + gamma * next_value - v;
      a = delta + gamma * lambda * a;
      out(b, t) = static_cast<T>(a);
      next_value = v;
    }
  }
  return out;
}

// r_t = -beta (log pi(y_t|s_t) - log pi_ref(y_t|s_t)) + [t = last response token] score(b): the
// sequence score paid at the end, with a per-token KL penalty against the reference.
template <class T>
token_values<T> kl_penalised_rewards(const sequence_values<T>& score, const token_values<T>& logp,
                                     const token_values<T>& ref_logp, const sequence_batch& batch, double beta) {
  token_values<T> out = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b) {
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t)
      out(b, t) = static_cast<T>(-beta * (static_cast<double>(logp(b, t)) - static_cast<double>(ref_logp(b, t))));
    if (batch.length(b) > batch.prompt_length(b)) out(b, batch.length(b) - 1) += score(b);
  }
  return out;
}

}  // namespace juice::mdp
