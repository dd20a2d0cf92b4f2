// juice/backends/tabular/tabular.hpp
//
// The tabular backend: exact models on the host for theory experiments. Policies and rewards with
// one row per state of a finite token-level MDP, exact enumeration of responses, exact policy steps
// and the exact regularised IRL optimum.
#pragma once

#include "juice/backends/host/host.hpp"
#include "juice/backends/tabular/irl_optimum.hpp"
#include "juice/backends/tabular/linear_reward.hpp"
#include "juice/backends/tabular/policy_steps.hpp"
#include "juice/backends/tabular/prefix_tree_models.hpp"
#include "juice/backends/tabular/space.hpp"
#include "juice/backends/tabular/tabular_policy.hpp"
#include "juice/backends/tabular/tabular_reward.hpp"
