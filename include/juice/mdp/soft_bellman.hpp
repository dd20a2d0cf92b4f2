// juice/mdp/soft_bellman.hpp
//
// Soft value iteration on a prefix tree (DESIGN.md section 2): for token rewards r(s,a), a reference
// policy pi_ref(a|s) and a KL weight beta > 0, the KL-regularised optimal policy satisfies
//   Q(s,a)  = r(s,a) + V(s')                      (V(s') = 0 when a ends the response)
//   V(s)    = beta log sum_a pi_ref(a|s) exp(Q(s,a)/beta)
//   pi*(a|s) = pi_ref(a|s) exp((Q(s,a) - V(s))/beta)
// and at sequence level pi*(y|x) = pi_ref(y|x) exp(r(x,y)/beta) / Z(x) with V(root x) = beta log Z(x).
// On a tree the backup is exact in one backward sweep (children have larger indices than parents),
// so "iteration" is a single pass in reverse state order. A sequence-level (terminal) reward is the
// special case where r is zero on every pair that does not end the response. The same for tabular
// reward and policy models: juice/backends/tabular/prefix_tree_models.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/mdp/prefix_tree.hpp"

namespace juice::mdp {

// The solution of the soft Bellman equations on a tree. Tables are (states x V), row-major.
struct soft_values {
  double beta = 1;
  std::vector<double> v;           // V(s)
  std::vector<double> q;           // Q(s,a)
  std::vector<double> log_policy;  // log pi*(a|s)

  // V(s), Q(s,a) and log pi*(a|s) for a vocabulary of size V.
  [[nodiscard]] double value(std::size_t s) const { return v[s]; }
  [[nodiscard]] double q_value(std::size_t s, std::size_t a, std::size_t V) const { return q[s * V + a]; }
  [[nodiscard]] double log_pi(std::size_t s, std::size_t a, std::size_t V) const { return log_policy[s * V + a]; }
};

namespace detail {

// beta log sum_a exp(log_ref[a] + q[a]/beta) over one state's row.
inline double soft_max_row(const double* log_ref, const double* q, std::size_t A, double beta) {
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t a = 0; a < A; ++a) top = std::max(top, log_ref[a] + q[a] / beta);
  double sum = 0;
  for (std::size_t a = 0; a < A; ++a) sum += std::exp(log_ref[a] + q[a] / beta - top);
  return beta * (top + std::log(sum));
}

inline void check_tables(const prefix_tree& tree, std::size_t reward_size, std::size_t ref_size, double beta,
                         const char* who) {
  const std::size_t n = tree.num_states() * tree.num_actions();
  if (reward_size != n || ref_size != n)
    throw invalid_argument(std::string(who) + ": the reward and reference tables must have states x V = " +
                           std::to_string(n) + " entries (got " + std::to_string(reward_size) + " and " +
                           std::to_string(ref_size) + ").");
  if (!(beta > 0) || !std::isfinite(beta))
    throw invalid_argument(std::string(who) + ": beta must be positive and finite (got " + std::to_string(beta) + ").");
}

}  // namespace detail

// Soft value iteration. reward: r(s,a), (states x V) row-major; log_ref: log pi_ref(a|s), same shape.
inline soft_values soft_value_iteration(const prefix_tree& tree, const std::vector<double>& reward,
                                        const std::vector<double>& log_ref, double beta) {
  detail::check_tables(tree, reward.size(), log_ref.size(), beta, "juice::mdp::soft_value_iteration");
  const std::size_t S = tree.num_states(), A = tree.num_actions();
  soft_values out;
  out.beta = beta;
  out.v.assign(S, 0.0);
  out.q.assign(S * A, 0.0);
  out.log_policy.assign(S * A, 0.0);
  const auto& child = tree.children();
  for (std::size_t s = S; s-- > 0;) {
    double* q = &out.q[s * A];
    for (std::size_t a = 0; a < A; ++a) {
      const auto c = child[s * A + a];
      q[a] = reward[s * A + a] + (c == prefix_tree::none ? 0.0 : out.v[static_cast<std::size_t>(c)]);
    }
    out.v[s] = detail::soft_max_row(&log_ref[s * A], q, A, beta);
    for (std::size_t a = 0; a < A; ++a) out.log_policy[s * A + a] = log_ref[s * A + a] + (q[a] - out.v[s]) / beta;
  }
  return out;
}

// The largest violation of the two soft Bellman equations by (V, Q):
//   max_{s,a} |Q(s,a) - r(s,a) - V(s')|  and  max_s |V(s) - beta log sum_a pi_ref exp(Q/beta)|.
struct bellman_residual {
  double q = 0;
  double v = 0;
  double policy = 0;  // max |sum_a pi*(a|s) - 1|
};

inline bellman_residual soft_bellman_residual(const prefix_tree& tree, const std::vector<double>& reward,
                                              const std::vector<double>& log_ref, const soft_values& sv) {
  detail::check_tables(tree, reward.size(), log_ref.size(), sv.beta, "juice::mdp::soft_bellman_residual");
  const std::size_t S = tree.num_states(), A = tree.num_actions();
  bellman_residual r;
  for (std::size_t s = 0; s < S; ++s) {
    double total = 0;
    for (std::size_t a = 0; a < A; ++a) {
      const auto c = tree.child(s, a);
      const double next = c == prefix_tree::none ? 0.0 : sv.v[static_cast<std::size_t>(c)];
      r.q = std::max(r.q, std::abs(sv.q[s * A + a] - reward[s * A + a] - next));
      total += std::exp(sv.log_policy[s * A + a]);
    }
    r.v = std::max(r.v, std::abs(sv.v[s] - detail::soft_max_row(&log_ref[s * A], &sv.q[s * A], A, sv.beta)));
    r.policy = std::max(r.policy, std::abs(total - 1));
  }
  return r;
}

}  // namespace juice::mdp
