// juice/backends/tabular/prefix_tree_models.hpp
//
// The tabular models on a token-level prefix tree (juice::mdp::prefix_tree): a random softmax
// policy, the (states x V) tables soft value iteration works on read from a tabular policy and a
// tabular reward, soft value iteration for those models, and writing a solved log-policy back. These
// adapters sit beside the tabular backend so that juice/mdp/ depends only on core and concepts; they
// keep their juice::mdp names.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "juice/backends/tabular/tabular_policy.hpp"
#include "juice/backends/tabular/tabular_reward.hpp"
#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/mdp/prefix_tree.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/mdp/soft_bellman.hpp"

namespace juice::mdp {

// A softmax policy on the tree with N(0, scale^2) logits.
template <class S = double>
tabular::policy<S, prefix_tree> random_policy(const prefix_tree& tree, double scale, rng& g) {
  tabular::policy<S, prefix_tree> pi(tree);
  auto logits = pi.logits();
  for (Eigen::Index i = 0; i < logits.size(); ++i) logits.data()[i] = static_cast<S>(scale * standard_normal(g));
  return pi;
}

// The (states x V) log pi(a|s) table of a tabular policy on the tree.
template <class S>
std::vector<double> log_policy_table(const tabular::policy<S, prefix_tree>& pi) {
  const std::size_t N = pi.space().num_states(), A = pi.space().num_actions();
  std::vector<double> out(N * A);
  for (std::size_t s = 0; s < N; ++s) {
    const auto lp = pi.log_probabilities(s);
    std::copy(lp.begin(), lp.end(), out.begin() + static_cast<std::ptrdiff_t>(s * A));
  }
  return out;
}

// The per-(state, action) token reward a tabular reward pays: its table for reward_kind::token_sum;
// for reward_kind::sequence its table on the pairs that end a response and zero elsewhere.
template <class S>
std::vector<double> token_reward_table(const tabular::reward<S, prefix_tree>& r) {
  const auto& tree = r.space();
  const std::size_t N = tree.num_states(), A = tree.num_actions();
  std::vector<double> out(N * A);
  const auto table = r.table();
  for (std::size_t s = 0; s < N; ++s)
    for (std::size_t a = 0; a < A; ++a)
      out[s * A + a] = r.kind() == tabular::reward_kind::token_sum || tree.ends(s, a)
                           ? static_cast<double>(table(static_cast<Eigen::Index>(s), static_cast<Eigen::Index>(a)))
                           : 0.0;
  return out;
}

// Soft value iteration for a tabular reward model and a tabular reference policy on the same tree.
template <class S>
soft_values soft_value_iteration(const tabular::reward<S, prefix_tree>& r, const tabular::policy<S, prefix_tree>& ref,
                                 double beta) {
  return soft_value_iteration(r.space(), token_reward_table(r), log_policy_table(ref), beta);
}

// Writes a (states x V) log-policy table into a tabular policy's logits (the soft-optimal policy).
template <class S>
void set_log_policy(tabular::policy<S, prefix_tree>& pi, const std::vector<double>& log_policy) {
  auto logits = pi.logits();
  if (static_cast<std::size_t>(logits.size()) != log_policy.size())
    throw invalid_argument("juice::mdp::set_log_policy: the table has " + std::to_string(log_policy.size()) +
                           " entries; the policy has " + std::to_string(logits.size()) + " logits.");
  for (std::size_t i = 0; i < log_policy.size(); ++i) logits.data()[i] = static_cast<S>(log_policy[i]);
}

}  // namespace juice::mdp
