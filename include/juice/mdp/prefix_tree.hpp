// juice/mdp/prefix_tree.hpp
//
// juice::mdp::prefix_tree: the token-level MDP of DESIGN.md section 2 written out as a tree. The
// prompt is one token x in [0, num_prompts); a response is up to H tokens over a vocabulary of V;
// with an end-of-sequence token the response also ends when EOS is emitted. A state is a prompt with
// an unfinished response prefix, s_t = (x, y_<t), t < H, with no EOS in y_<t; the transition
// s_{t+1} = s_t (+) a_t is deterministic, and an action ends the response when it is EOS or the
// H-th token. Every complete response is therefore identified by its last (state, action) pair.
//
// It satisfies juice::TabularSpace, so the tabular policy (one logit vector per prefix),
// the tabular rewards (per (state, action) or per complete response) and the linear-feature reward
// run on it unchanged. On top of the TabularSpace interface it exposes the tree structure the exact
// token-level computations need: depth, parent and parent action of a state, the child of a
// (state, action) pair, and the per-state masks of actions that end the response.
//
// States are numbered prompt-major and, within a prompt, level by level (breadth first, children
// in token order), so a child always has a larger index than its parent: a backward sweep over the
// indices visits children before parents (what soft value iteration does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "juice/concepts/tabular_space.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"

namespace juice::mdp {

struct prefix_tree_options {
  std::size_t num_prompts = 1;        // prompts x in [0, num_prompts), one token each
  std::size_t vocabulary = 2;         // V: actions (tokens) per state
  std::size_t horizon = 1;            // H: the longest response
  std::optional<token_t> eos{};       // token that ends a response early (none by default)
  std::size_t max_states = 1u << 24;  // refuse trees larger than this (a guard against typos)
};

class prefix_tree {
public:
  static constexpr std::int32_t none = -1;

  explicit prefix_tree(const prefix_tree_options& o) : o_(o) {
    if (o.num_prompts == 0) throw invalid_argument("juice::mdp::prefix_tree: needs at least one prompt.");
    if (o.vocabulary == 0) throw invalid_argument("juice::mdp::prefix_tree: the vocabulary must have at least one token.");
    if (o.horizon == 0) throw invalid_argument("juice::mdp::prefix_tree: the horizon H must be at least 1.");
    if (o.eos && (*o.eos < 0 || static_cast<std::size_t>(*o.eos) >= o.vocabulary))
      throw invalid_argument("juice::mdp::prefix_tree: the EOS token " + std::to_string(*o.eos) +
                             " is outside the vocabulary [0, " + std::to_string(o.vocabulary) + ").");
    // States per prompt: sum_{d < H} b^d with b = non-EOS tokens.
    const std::size_t branching = o.vocabulary - (o.eos ? 1 : 0);
    double per_prompt = 0, level = 1;
    for (std::size_t d = 0; d < o.horizon; ++d, level *= static_cast<double>(branching)) per_prompt += level;
    const double total = per_prompt * static_cast<double>(o.num_prompts);
    if (total > static_cast<double>(o.max_states))
      throw invalid_argument("juice::mdp::prefix_tree: V = " + std::to_string(o.vocabulary) + ", H = " +
                             std::to_string(o.horizon) + " and " + std::to_string(o.num_prompts) + " prompts give " +
                             std::to_string(total) + " states, more than max_states = " +
                             std::to_string(o.max_states) + ".");
    build();
  }

  prefix_tree(std::size_t num_prompts, std::size_t vocabulary, std::size_t horizon,
              std::optional<token_t> eos = std::nullopt)
      : prefix_tree(prefix_tree_options{num_prompts, vocabulary, horizon, eos}) {}

  // --- juice::TabularSpace ---
  [[nodiscard]] std::size_t num_states() const { return depth_.size(); }
  [[nodiscard]] std::size_t num_actions() const { return o_.vocabulary; }
  [[nodiscard]] std::size_t max_response_length() const { return o_.horizon; }

  // The root state of the prompt in row `row` (one token x in [0, num_prompts)).
  [[nodiscard]] std::size_t initial_state(const sequence_batch& batch, std::size_t row) const {
    if (batch.prompt_length(row) != 1)
      throw invalid_argument("juice::mdp::prefix_tree: row " + std::to_string(row) + " has a prompt of " +
                             std::to_string(batch.prompt_length(row)) + " tokens; a prefix-tree prompt is one token.");
    const token_t x = batch.tokens(row, 0);
    if (x < 0 || static_cast<std::size_t>(x) >= o_.num_prompts)
      throw invalid_argument("juice::mdp::prefix_tree: row " + std::to_string(row) + " has prompt token " +
                             std::to_string(x) + ", outside [0, " + std::to_string(o_.num_prompts) + ").");
    return root(static_cast<std::size_t>(x));
  }

  // The state after action a, or nullopt when a ends the response (EOS or the H-th token).
  [[nodiscard]] std::optional<std::size_t> next_state(std::size_t state, token_t action) const {
    const std::int32_t c = child_[state * o_.vocabulary + static_cast<std::size_t>(action)];
    if (c == none) return std::nullopt;
    return static_cast<std::size_t>(c);
  }

  // --- tree structure ---
  // The options the tree was built with.
  [[nodiscard]] const prefix_tree_options& options() const { return o_; }
  [[nodiscard]] std::size_t num_prompts() const { return o_.num_prompts; }
  [[nodiscard]] std::size_t vocabulary() const { return o_.vocabulary; }
  [[nodiscard]] std::size_t horizon() const { return o_.horizon; }
  [[nodiscard]] std::optional<token_t> eos() const { return o_.eos; }
  // The state (x, empty prefix).
  [[nodiscard]] std::size_t root(std::size_t prompt) const { return prompt * per_prompt_; }
  // States per prompt (every prompt has the same tree).
  [[nodiscard]] std::size_t states_per_prompt() const { return per_prompt_; }
  // Length t of the prefix y_<t of state s.
  [[nodiscard]] std::size_t depth(std::size_t s) const { return depth_[s]; }
  // The prompt x of state s.
  [[nodiscard]] std::size_t prompt(std::size_t s) const { return s / per_prompt_; }
  // The parent state (none for a root) and the action leading from it to s.
  [[nodiscard]] std::int32_t parent(std::size_t s) const { return parent_[s]; }
  [[nodiscard]] std::int32_t parent_action(std::size_t s) const { return parent_action_[s]; }
  // The child of (s, a), or none when a ends the response.
  [[nodiscard]] std::int32_t child(std::size_t s, std::size_t a) const { return child_[s * o_.vocabulary + a]; }
  // Whether action a in state s ends the response: the per-state terminal-action mask.
  [[nodiscard]] bool ends(std::size_t s, std::size_t a) const { return child(s, a) == none; }
  // The (states x V) row-major child table (none where the action ends the response).
  [[nodiscard]] const std::vector<std::int32_t>& children() const { return child_; }
  // The (states x V) row-major mask, 1 where the action ends the response.
  [[nodiscard]] std::vector<char> terminal_mask() const {
    std::vector<char> m(child_.size());
    for (std::size_t i = 0; i < child_.size(); ++i) m[i] = child_[i] == none ? 1 : 0;
    return m;
  }
  // The tokens of the prefix y_<t of state s.
  [[nodiscard]] std::vector<token_t> prefix(std::size_t s) const {
    std::vector<token_t> out(depth_[s]);
    for (std::int32_t c = static_cast<std::int32_t>(s); parent_[static_cast<std::size_t>(c)] != none;
         c = parent_[static_cast<std::size_t>(c)])
      out[depth_[static_cast<std::size_t>(c)] - 1] = parent_action_[static_cast<std::size_t>(c)];
    return out;
  }
  // Complete responses per prompt: the number of terminal (state, action) pairs of one prompt's tree.
  [[nodiscard]] std::size_t responses_per_prompt() const { return responses_per_prompt_; }

  // Calls f(state, action) for every terminal pair of prompt x (one per complete response), in
  // state order then token order.
  template <class F>
  void for_each_response(std::size_t x, F&& f) const {
    for (std::size_t s = root(x); s < root(x) + per_prompt_; ++s)
      for (std::size_t a = 0; a < o_.vocabulary; ++a)
        if (ends(s, a)) f(s, a);
  }

  // A batch holding the prompts 0..num_prompts-1 with weights rho (uniform by default).
  [[nodiscard]] sequence_batch prompts(const std::vector<double>& rho = {}) const {
    if (!rho.empty() && rho.size() != o_.num_prompts)
      throw invalid_argument("juice::mdp::prefix_tree::prompts: got " + std::to_string(rho.size()) +
                             " prompt weights for " + std::to_string(o_.num_prompts) + " prompts.");
    sequence_batch b(o_.num_prompts, 1);
    for (std::size_t x = 0; x < o_.num_prompts; ++x) {
      b.tokens(x, 0) = static_cast<token_t>(x);
      b.prompt_length(x) = b.length(x) = 1;
      if (!rho.empty()) b.weight(x) = rho[x];
    }
    return b;
  }

  // One batch row holding prompt x followed by the prefix of state s and the action a (a complete
  // response when ends(s, a)); width 1 + H.
  [[nodiscard]] sequence_batch row(std::size_t s, std::size_t a) const {
    sequence_batch b(1, 1 + o_.horizon);
    b.tokens(0, 0) = static_cast<token_t>(prompt(s));
    const auto p = prefix(s);
    for (std::size_t t = 0; t < p.size(); ++t) b.tokens(0, 1 + t) = p[t];
    b.tokens(0, 1 + p.size()) = static_cast<token_t>(a);
    b.prompt_length(0) = 1;
    b.length(0) = static_cast<std::int32_t>(2 + p.size());
    b.weight(0) = 1;
    return b;
  }

private:
  void build() {
    const std::size_t V = o_.vocabulary;
    // One prompt's tree, level by level; then copies shifted per prompt.
    std::vector<std::size_t> depth{0};
    std::vector<std::int32_t> parent{none}, parent_action{none};
    std::vector<std::int32_t> child;
    for (std::size_t s = 0; s < depth.size(); ++s) {
      for (std::size_t a = 0; a < V; ++a) {
        const bool stop = (o_.eos && static_cast<token_t>(a) == *o_.eos) || depth[s] + 1 == o_.horizon;
        if (stop) {
          child.push_back(none);
        } else {
          child.push_back(static_cast<std::int32_t>(depth.size()));
          depth.push_back(depth[s] + 1);
          parent.push_back(static_cast<std::int32_t>(s));
          parent_action.push_back(static_cast<std::int32_t>(a));
        }
      }
    }
    per_prompt_ = depth.size();
    responses_per_prompt_ = 0;
    for (auto c : child) responses_per_prompt_ += c == none ? 1 : 0;
    const std::size_t P = o_.num_prompts, n = per_prompt_;
    depth_.resize(P * n);
    parent_.resize(P * n);
    parent_action_.resize(P * n);
    child_.resize(P * n * V);
    for (std::size_t x = 0; x < P; ++x) {
      const auto off = static_cast<std::int32_t>(x * n);
      for (std::size_t s = 0; s < n; ++s) {
        depth_[x * n + s] = depth[s];
        parent_[x * n + s] = parent[s] == none ? none : parent[s] + off;
        parent_action_[x * n + s] = parent_action[s];
        for (std::size_t a = 0; a < V; ++a) {
          const auto c = child[s * V + a];
          child_[(x * n + s) * V + a] = c == none ? none : c + off;
        }
      }
    }
  }

  prefix_tree_options o_;
  std::size_t per_prompt_ = 0;
  std::size_t responses_per_prompt_ = 0;
  std::vector<std::size_t> depth_;
  std::vector<std::int32_t> parent_;
  std::vector<std::int32_t> parent_action_;
  std::vector<std::int32_t> child_;
};

static_assert(TabularSpace<prefix_tree>);

}  // namespace juice::mdp
