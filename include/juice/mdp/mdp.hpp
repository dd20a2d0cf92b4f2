// juice/mdp/mdp.hpp
//
// The token-level MDP toolkit (DESIGN.md section 2): prefix-tree spaces for the tabular models, soft
// value iteration, sequence log-prob sums, exact and estimated KL and entropy, returns/GAE/KL-penalised
// rewards, and random MDPs for experiments. See docs/mdp.md.
#pragma once

#include "juice/mdp/advantages.hpp"
#include "juice/mdp/kl.hpp"
#include "juice/mdp/logprob.hpp"
#include "juice/mdp/prefix_tree.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/mdp/soft_bellman.hpp"
