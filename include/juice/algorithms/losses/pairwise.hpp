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
#include <span>
#include <string_view>
#include <vector>

#include "juice/concepts/pairwise_loss.hpp"
#include "juice/core/batch_ops.hpp"

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
  // RFT divides the reward margin by beta for this loss, so that its negative gradient is the
  // maximum-likelihood IRL gradient grad l(theta) (see margin_scale below).
  static constexpr bool margin_over_beta = true;
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

// The scale s of the reward margin in RFT's z = s (r(x,y) - r(x,y~)): 1/beta for a loss that says
// `static constexpr bool margin_over_beta = true` (the linear, ML-IRL loss), 1 otherwise.
template <PairwiseLoss Loss>
double margin_scale(double beta) {
  if constexpr (requires { requires Loss::margin_over_beta; }) return 1.0 / beta;
  else return 1.0;
}

// sum_i w_i h(z_i) over the pairs' margins z (one per pair), and into *per_pair (if given) each
// pair's weight c_i = w_i h'(z_i) dz: the chosen response's gradient weight (the rejected one gets
// -c_i), with dz the derivative of the margin in the model output (beta for IRFT's log-probs, the
// margin scale for RFT's rewards).
template <PairwiseLoss Loss>
double pairwise_margin_loss(const pair_batch& pairs, std::span<const double> z, double dz,
                            std::vector<double>* per_pair = nullptr) {
  double loss = 0;
  if (per_pair) per_pair->resize(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) {
    loss += pairs.weight(i) * Loss::value(z[i]);
    if (per_pair) (*per_pair)[i] = pairs.weight(i) * Loss::derivative(z[i]) * dz;
  }
  return loss;
}

}  // namespace juice
