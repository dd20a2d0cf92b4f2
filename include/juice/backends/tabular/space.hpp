// juice/backends/tabular/space.hpp
//
// State spaces of the tabular models. A tabular model keeps one row of numbers per state (logits of
// a policy, rewards of a reward table); a space (juice::TabularSpace, juice/concepts/tabular_space.hpp)
// says which state a token position is in.
//
// bandit_space is the one-step space of the paper's one-state example: the prompt is one token x
// (the state), the response one token a (the action). The token-level MDP toolkit adds prefix-tree
// spaces with the same interface.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <string>

#include "juice/concepts/tabular_space.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"

namespace juice::tabular {

class bandit_space {
public:
  bandit_space(std::size_t num_prompts, std::size_t num_actions) : prompts_(num_prompts), actions_(num_actions) {
    if (num_prompts == 0 || num_actions == 0)
      throw invalid_argument("juice::tabular::bandit_space: needs at least one prompt and one action.");
  }

  [[nodiscard]] std::size_t num_states() const { return prompts_; }
  [[nodiscard]] std::size_t num_actions() const { return actions_; }
  [[nodiscard]] std::size_t max_response_length() const { return 1; }

  [[nodiscard]] std::size_t initial_state(const sequence_batch& batch, std::size_t row) const {
    if (batch.prompt_length(row) != 1)
      throw invalid_argument("juice::tabular::bandit_space: row " + std::to_string(row) + " has a prompt of " +
                             std::to_string(batch.prompt_length(row)) + " tokens; a bandit prompt is one token (the state).");
    const token_t x = batch.tokens(row, 0);
    if (x < 0 || static_cast<std::size_t>(x) >= prompts_)
      throw invalid_argument("juice::tabular::bandit_space: row " + std::to_string(row) + " has prompt token " +
                             std::to_string(x) + ", outside [0, " + std::to_string(prompts_) + ").");
    return static_cast<std::size_t>(x);
  }

  [[nodiscard]] std::optional<std::size_t> next_state(std::size_t, token_t) const { return std::nullopt; }

private:
  std::size_t prompts_, actions_;
};

static_assert(TabularSpace<bandit_space>);

namespace detail {

// Calls f(t, state, action) for every response position t of row b, walking the space. Throws if a
// token is outside the vocabulary or the row continues after its response ended. Returns the state
// that follows the last token (nullopt if the response is complete).
template <TabularSpace Sp, class F>
std::optional<std::size_t> walk(const Sp& space, const sequence_batch& batch, std::size_t b, F&& f) {
  std::optional<std::size_t> state = space.initial_state(batch, b);
  for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) {
    const token_t a = batch.tokens(b, t);
    if (!state)
      throw invalid_argument("juice::tabular: row " + std::to_string(b) + " continues at position " +
                             std::to_string(t) + " after its response ended.");
    if (a < 0 || static_cast<std::size_t>(a) >= space.num_actions())
      throw invalid_argument("juice::tabular: row " + std::to_string(b) + " position " + std::to_string(t) +
                             " has token " + std::to_string(a) + ", outside the vocabulary [0, " +
                             std::to_string(space.num_actions()) + ").");
    f(static_cast<std::size_t>(t), *state, static_cast<std::size_t>(a));
    state = space.next_state(*state, a);
  }
  return state;
}

}  // namespace detail
}  // namespace juice::tabular
