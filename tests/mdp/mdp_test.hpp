// Test support for the token-level MDP toolkit: independent reference computations on prefix trees
// (path sums by walking the tree's tokens, log-sum-exp over enumerated responses).
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "juice/backends/tabular/tabular.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/mdp/prefix_tree.hpp"

namespace juice::test {

using tree = mdp::prefix_tree;
using tree_policy = tabular::policy<double, tree>;

// sum_t table[s_t, y_t] along row b's response, walking the tree's child table directly.
inline double path_sum(const tree& sp, const std::vector<double>& table, const sequence_batch& batch, std::size_t b) {
  std::size_t s = sp.root(static_cast<std::size_t>(batch.tokens(b, 0)));
  double total = 0;
  for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) {
    const auto a = static_cast<std::size_t>(batch.tokens(b, static_cast<std::size_t>(t)));
    total += table[s * sp.num_actions() + a];
    const auto c = sp.child(s, a);
    if (c >= 0) s = static_cast<std::size_t>(c);
  }
  return total;
}

// log sum_b exp(v[b]) over the rows of each source.
inline std::vector<double> log_sum_exp_by_source(const sequence_batch& rows, const std::vector<double>& v, std::size_t n) {
  std::vector<double> top(n, -std::numeric_limits<double>::infinity()), out(n, 0.0);
  for (std::size_t b = 0; b < rows.rows(); ++b) {
    auto x = static_cast<std::size_t>(rows.source(b));
    top[x] = std::max(top[x], v[b]);
  }
  for (std::size_t b = 0; b < rows.rows(); ++b) {
    auto x = static_cast<std::size_t>(rows.source(b));
    out[x] += std::exp(v[b] - top[x]);
  }
  for (std::size_t x = 0; x < n; ++x) out[x] = top[x] + std::log(out[x]);
  return out;
}

}  // namespace juice::test
