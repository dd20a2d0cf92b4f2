// juice/backends/tabular/tabular_reward.hpp
//
// tabular::reward<S, Space>: a reward with one free parameter per (state, action) pair of a tabular
// space. As a sequence reward (the default) r(x,y) = theta[s_last, a_last]: a complete response is
// identified by its last (state, action), so this is a free reward per (x, y). As a token-level
// reward r(x,y) = sum_t theta[s_t, a_t] (reward_kind::token_sum).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "juice/backends/host/host.hpp"
#include "juice/backends/tabular/space.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"

namespace juice::tabular {

enum class reward_kind {
  sequence,   // r(x,y) = theta[last state, last action]; needs complete responses
  token_sum,  // r(x,y) = sum over response tokens of theta[s_t, a_t]
};

template <class S, TabularSpace Space>
class reward {
public:
  using scalar_type = S;
  using backend_type = host;
  using space_type = Space;
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // All-zero reward.
  explicit reward(Space sp, reward_kind kind = reward_kind::sequence)
      : space_(std::move(sp)), kind_(kind), theta_(space_.num_states() * space_.num_actions(), S(0)),
        grad_(theta_.size(), S(0)) {}

  [[nodiscard]] const Space& space() const { return space_; }
  [[nodiscard]] reward_kind kind() const { return kind_; }
  // The reward table as a (states x actions) matrix view.
  Eigen::Map<matrix> table() { return {theta_.data(), rows(), cols()}; }
  [[nodiscard]] Eigen::Map<const matrix> table() const { return {theta_.data(), rows(), cols()}; }
  [[nodiscard]] Eigen::Map<const matrix> gradient() const { return {grad_.data(), rows(), cols()}; }

  // --- juice::Parameterised ---
  std::array<parameter<host, S>, 1> parameters() {
    return {parameter<host, S>{"reward", std::span<S>(theta_), std::span<S>(grad_)}};
  }
  void zero_grad() { std::fill(grad_.begin(), grad_.end(), S(0)); }

  // --- juice::RewardModel ---
  sequence_values<S> rewards(const sequence_batch& batch) const {
    sequence_values<S> out = xt::zeros<S>({batch.rows()});
    for (std::size_t b = 0; b < batch.rows(); ++b)
      visit(batch, b, [&](std::size_t k) { out(b) += theta_[k]; });
    return out;
  }

  void backward(const sequence_batch& batch, const sequence_values<S>& weights) {
    for (std::size_t b = 0; b < batch.rows(); ++b)
      visit(batch, b, [&](std::size_t k) { grad_[k] += weights(b); });
  }

private:
  [[nodiscard]] Eigen::Index rows() const { return static_cast<Eigen::Index>(space_.num_states()); }
  [[nodiscard]] Eigen::Index cols() const { return static_cast<Eigen::Index>(space_.num_actions()); }

  // Calls f(index into theta) for every parameter the reward of row b sums.
  template <class F>
  void visit(const sequence_batch& batch, std::size_t b, F&& f) const {
    const std::size_t A = space_.num_actions();
    std::size_t last = 0;
    bool any = false;
    const auto after = detail::walk(space_, batch, b, [&](std::size_t, std::size_t s, std::size_t a) {
      last = s * A + a;
      any = true;
      if (kind_ == reward_kind::token_sum) f(last);
    });
    if (kind_ == reward_kind::sequence) {
      if (!any || after)
        throw invalid_argument("juice::tabular::reward: row " + std::to_string(b) +
                               " is not a complete response; a sequence reward scores complete responses only.");
      f(last);
    }
  }

  Space space_;
  reward_kind kind_;
  std::vector<S> theta_;
  std::vector<S> grad_;
};

static_assert(RewardModel<reward<double, bandit_space>>);
static_assert(RewardModel<reward<float, bandit_space>>);

}  // namespace juice::tabular
