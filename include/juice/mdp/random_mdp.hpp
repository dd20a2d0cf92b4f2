// juice/mdp/random_mdp.hpp
//
// Random token-level MDPs for theory experiments and tests: Gaussian tables (rewards, logits) drawn
// through juice::rng with juice's own transform (Box-Muller), so a seed gives the same MDP with every
// standard library. A random tabular policy on a tree: juice/backends/tabular/prefix_tree_models.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "juice/core/rng.hpp"
#include "juice/mdp/prefix_tree.hpp"

namespace juice::mdp {

// One standard normal draw: juice::standard_normal (juice/core/rng.hpp).
using juice::standard_normal;

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

}  // namespace juice::mdp
