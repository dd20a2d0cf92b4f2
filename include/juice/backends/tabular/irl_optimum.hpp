// juice/backends/tabular/irl_optimum.hpp
//
// The exact optimum of the L2-regularised maximum-likelihood IRL problem for a free tabular
// sequence reward (Li et al., NeurIPS 2024, the inner closed form substituted):
//   max_r  l(r) - (lambda/2) ||r||^2,   l(r) = E_D[r/beta + log pi_ref] - E_x log sum_y pi_ref e^{r/beta},
// whose stationarity condition is (p_D(y|x) - pi_r(y|x)) rho(x) / beta = lambda r(x,y). The objective
// is strictly concave for lambda > 0; Newton's method with the exact Hessian
//   -(1/beta^2) sum_x rho(x) (diag pi_r(.|x) - pi_r pi_r^T) - lambda I
// converges quadratically. This is the reference every RFT run is compared with.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "juice/backends/tabular/policy_steps.hpp"
#include "juice/backends/tabular/tabular_policy.hpp"
#include "juice/backends/tabular/tabular_reward.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/objectives/irl_likelihood.hpp"

namespace juice::tabular {

struct irl_optimum_options {
  double beta = 1.0;
  double lambda = 1.0;
  double tolerance = 1e-13;  // on the largest gradient entry
  std::size_t max_iterations = 100;
  std::size_t max_dense = 4096;  // largest number of free rewards the dense solver accepts
};

// Writes the optimal reward into `r` (a sequence-kind tabular reward) and returns the number of
// Newton iterations.
template <class S, class Space>
std::size_t solve_irl_optimum(const policy<S, Space>& reference, reward<S, Space>& r, const sequence_batch& demos,
                              const irl_optimum_options& o = {}) {
  if (!(o.lambda > 0))
    throw invalid_argument("juice::tabular::solve_irl_optimum: lambda must be positive (got " + to_text(o.lambda) +
                           "); without the L2 penalty the optimum is at infinity.");
  if (!(o.beta > 0)) throw invalid_argument("juice::tabular::solve_irl_optimum: beta must be positive.");
  if (r.kind() != reward_kind::sequence)
    throw invalid_argument("juice::tabular::solve_irl_optimum: needs a sequence-kind tabular reward.");
  sequence_batch data = demos;
  normalise_weights(data);
  const sequence_batch all = reference.enumerate(prompts_of(data));
  const std::size_t A = r.space().num_actions();

  // The table entry of each enumerated response, and a dense index over the entries used.
  std::vector<std::size_t> entry(all.rows());
  std::vector<long> dense(r.space().num_states() * A, -1);
  std::vector<std::size_t> used;
  for (std::size_t e = 0; e < all.rows(); ++e) {
    detail::walk(r.space(), all, e, [&](std::size_t, std::size_t s, std::size_t a) { entry[e] = s * A + a; });
    if (dense[entry[e]] < 0) {
      dense[entry[e]] = static_cast<long>(used.size());
      used.push_back(entry[e]);
    }
  }
  if (used.size() > o.max_dense)
    throw invalid_argument("juice::tabular::solve_irl_optimum: " + std::to_string(used.size()) +
                           " free rewards exceed the dense solver's limit of " + std::to_string(o.max_dense) + ".");
  auto table = r.table();
  table.setZero();  // entries no response uses have optimum 0
  const auto n = static_cast<Eigen::Index>(used.size());
  const double b2 = o.beta * o.beta;
  for (std::size_t it = 0; it < o.max_iterations; ++it) {
    r.zero_grad();
    irl_log_likelihood(reference, r, data, {o.beta, true});
    Eigen::VectorXd g(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      const std::size_t k = used[static_cast<std::size_t>(i)];
      g(i) = static_cast<double>(r.gradient().data()[k]) - o.lambda * static_cast<double>(table.data()[k]);
    }
    if (g.cwiseAbs().maxCoeff() < o.tolerance) return it;

    // pi_r(y|x) per enumerated row, and the (negated) Hessian.
    const auto rv = r.rewards(all);
    const auto ref = sequence_sum(reference.logprobs(all), all);
    std::vector<double> logp(all.rows());
    for (std::size_t e = 0; e < all.rows(); ++e) logp[e] = ref(e) + static_cast<double>(rv(e)) / o.beta;
    detail::normalise_per_source(all, logp);
    Eigen::MatrixXd H = Eigen::MatrixXd::Identity(n, n) * o.lambda;  // -Hessian
    for (std::size_t e1 = 0; e1 < all.rows(); ++e1) {
      const double w = data.weight(static_cast<std::size_t>(all.source(e1))) / b2;
      const double p1 = std::exp(logp[e1]);
      const auto i1 = dense[entry[e1]];
      H(i1, i1) += w * p1;
      for (std::size_t e2 = 0; e2 < all.rows(); ++e2)
        if (all.source(e2) == all.source(e1)) H(i1, dense[entry[e2]]) -= w * p1 * std::exp(logp[e2]);
    }
    const Eigen::VectorXd step = H.ldlt().solve(g);
    for (Eigen::Index i = 0; i < n; ++i) table.data()[used[static_cast<std::size_t>(i)]] += static_cast<S>(step(i));
  }
  throw numerical_error("juice::tabular::solve_irl_optimum: Newton's method did not converge in " +
                        std::to_string(o.max_iterations) + " iterations.");
}

}  // namespace juice::tabular
