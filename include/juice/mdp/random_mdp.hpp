// juice/mdp/random_mdp.hpp
//
// Random token-level MDPs for theory experiments and tests: Gaussian tables (rewards, logits) drawn
// through juice::rng with juice's own transform (Box-Muller), so a seed gives the same MDP with every
// standard library.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

#include "juice/backends/tabular/tabular_policy.hpp"
#include "juice/core/rng.hpp"
#include "juice/mdp/prefix_tree.hpp"

namespace juice::mdp {

// One standard normal draw (Box-Muller; one uniform pair per draw, so draws never depend on parity).
inline double standard_normal(rng& g) {
  const double u1 = 1.0 - g.uniform();  // (0, 1]
  const double u2 = g.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// n independent N(0, scale^2) values.
inline std::vector<double> gaussian_table(std::size_t n, double scale, rng& g) {
  std::vector<double> out(n);
  for (double& v : out) v = scale * standard_normal(g);
  return out;
}

// A (states x V) Gaussian table for the tree (token rewards r(s,a), or logits).
inline std::vector<double> random_token_table(const prefix_tree& tree, double scale, rng& g) {
  return gaussian_table(tree.num_states() * tree.num_actions(), scale, g);
}

// A softmax policy on the tree with N(0, scale^2) logits.
template <class S = double>
tabular::policy<S, prefix_tree> random_policy(const prefix_tree& tree, double scale, rng& g) {
  tabular::policy<S, prefix_tree> pi(tree);
  auto logits = pi.logits();
  for (Eigen::Index i = 0; i < logits.size(); ++i) logits.data()[i] = static_cast<S>(scale * standard_normal(g));
  return pi;
}

}  // namespace juice::mdp
