// juice/backends/tabular/linear_reward.hpp
//
// tabular::linear_reward<S, Space>: r(x,y) = phi(x,y)^T theta with a fixed feature vector per
// complete response, identified (as in tabular::reward) by its last (state, action) pair. The
// features form a ((states * actions) x d) matrix; rows of pairs that never end a response are unused.
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

template <class S, TabularSpace Space>
class linear_reward {
public:
  using scalar_type = S;
  using backend_type = host;
  using space_type = Space;
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;

  // features: (num_states * num_actions) x d; theta starts at zero.
  linear_reward(Space sp, matrix features)
      : space_(std::move(sp)), features_(std::move(features)),
        theta_(static_cast<std::size_t>(features_.cols()), S(0)), grad_(theta_.size(), S(0)) {
    const auto expected = static_cast<Eigen::Index>(space_.num_states() * space_.num_actions());
    if (features_.rows() != expected)
      throw invalid_argument("juice::tabular::linear_reward: the feature matrix has " + std::to_string(features_.rows()) +
                             " rows; the space needs one per (state, action) pair, " + std::to_string(expected) + ".");
  }

  [[nodiscard]] const matrix& features() const { return features_; }
  // theta as a vector view.
  Eigen::Map<vector> weights() { return {theta_.data(), static_cast<Eigen::Index>(theta_.size())}; }
  [[nodiscard]] Eigen::Map<const vector> weights() const { return {theta_.data(), static_cast<Eigen::Index>(theta_.size())}; }
  [[nodiscard]] Eigen::Map<const vector> gradient() const { return {grad_.data(), static_cast<Eigen::Index>(grad_.size())}; }

  // --- juice::Parameterised ---
  std::array<parameter<host, S>, 1> parameters() {
    return {parameter<host, S>{"theta", std::span<S>(theta_), std::span<S>(grad_)}};
  }
  void zero_grad() { std::fill(grad_.begin(), grad_.end(), S(0)); }

  // --- juice::RewardModel ---
  sequence_values<S> rewards(const sequence_batch& batch) const {
    sequence_values<S> out = xt::zeros<S>({batch.rows()});
    for (std::size_t b = 0; b < batch.rows(); ++b) out(b) = features_.row(feature_row(batch, b)).dot(weights());
    return out;
  }

  void backward(const sequence_batch& batch, const sequence_values<S>& w) {
    Eigen::Map<vector> g(grad_.data(), static_cast<Eigen::Index>(grad_.size()));
    for (std::size_t b = 0; b < batch.rows(); ++b) g += w(b) * features_.row(feature_row(batch, b)).transpose();
  }

private:
  [[nodiscard]] Eigen::Index feature_row(const sequence_batch& batch, std::size_t b) const {
    std::size_t last = 0;
    bool any = false;
    const auto after = detail::walk(space_, batch, b, [&](std::size_t, std::size_t s, std::size_t a) {
      last = s * space_.num_actions() + a;
      any = true;
    });
    if (!any || after)
      throw invalid_argument("juice::tabular::linear_reward: row " + std::to_string(b) +
                             " is not a complete response; a sequence reward scores complete responses only.");
    return static_cast<Eigen::Index>(last);
  }

  Space space_;
  matrix features_;
  std::vector<S> theta_;
  std::vector<S> grad_;
};

static_assert(RewardModel<linear_reward<double, bandit_space>>);

}  // namespace juice::tabular
