// juice/algorithms/losses/pairwise.hpp
//
// The margin losses h(z) of IRFT (Li et al., "Getting More Juice Out of the SFT Data", NeurIPS 2024,
// Algorithm 2) and of RFT's reward step (Algorithm 1):
//   sigmoid  h(z) = -log sigmoid(z)   (SPIN/DPO form; = Bradley-Terry / logistic on a reward gap)
//   hinge    h(z) = max(0, 1 - z)
//   linear   h(z) = -z                (the maximum-likelihood IRL gradient)
//   ipo      h(z) = (z - 1/2)^2
// All four have h'(0) < 0, so at an IRFT round start the update ascends the IRL likelihood.
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>

#include "juice/concepts/pairwise_loss.hpp"

namespace juice {

struct sigmoid_loss {
  static constexpr std::string_view name = "sigmoid";
  // -log sigmoid(z) = softplus(-z), evaluated without overflow.
  static double value(double z) { return std::log1p(std::exp(-std::abs(z))) + std::max(-z, 0.0); }
  // -sigmoid(-z)
  static double derivative(double z) {
    return z >= 0 ? -std::exp(-z) / (1 + std::exp(-z)) : -1 / (1 + std::exp(z));
  }
};

// The Bradley-Terry (logistic) loss on a reward difference is the sigmoid loss.
using logistic_loss = sigmoid_loss;

struct hinge_loss {
  static constexpr std::string_view name = "hinge";
  static double value(double z) { return std::max(0.0, 1 - z); }
  static double derivative(double z) { return z < 1 ? -1.0 : 0.0; }
};

struct linear_loss {
  static constexpr std::string_view name = "linear";
  static double value(double z) { return -z; }
  static double derivative(double) { return -1.0; }
};

struct ipo_loss {
  static constexpr std::string_view name = "ipo";
  static double value(double z) { return (z - 0.5) * (z - 0.5); }
  static double derivative(double z) { return 2 * (z - 0.5); }
};

static_assert(PairwiseLoss<sigmoid_loss> && PairwiseLoss<hinge_loss> && PairwiseLoss<linear_loss> &&
              PairwiseLoss<ipo_loss>);

}  // namespace juice
