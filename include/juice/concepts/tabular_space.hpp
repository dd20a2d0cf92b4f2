// juice/concepts/tabular_space.hpp
//
// TabularSpace: a finite state space over tokens, the structure tabular models (one row of numbers
// per state) and the exact token-level MDP tools share. The token-level MDP of DESIGN.md has states
// s_t = (x, y_<t) and deterministic transitions, so a space is a finite automaton over tokens:
//   1. num_states(), num_actions()                 sizes of the tables (actions = vocabulary)
//   2. initial_state(prompts, row) -> state         the state after reading prompt row `row`
//                                                   (throws juice::invalid_argument for a bad prompt)
//   3. next_state(state, action) -> optional state  nullopt when the action ends the response
//   4. max_response_length()                       an upper bound on response length
// A complete response is identified by its last (state, action) pair, so sequence-level tables
// share the (num_states x num_actions) layout of token-level ones. Not required: any storage, any
// tree structure (juice::mdp::prefix_tree adds that on top), or a particular state numbering.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>

#include "juice/core/batch.hpp"

namespace juice {

template <class Sp>
concept TabularSpace = std::copy_constructible<Sp> &&
    requires(const Sp& sp, const sequence_batch& prompts, std::size_t row, std::size_t state, token_t action) {
  { sp.num_states() } -> std::convertible_to<std::size_t>;
  { sp.num_actions() } -> std::convertible_to<std::size_t>;
  { sp.initial_state(prompts, row) } -> std::convertible_to<std::size_t>;
  { sp.next_state(state, action) } -> std::same_as<std::optional<std::size_t>>;
  { sp.max_response_length() } -> std::convertible_to<std::size_t>;
};

namespace tabular {
using juice::TabularSpace;  // the name the tabular backend has always used
}  // namespace tabular

}  // namespace juice
