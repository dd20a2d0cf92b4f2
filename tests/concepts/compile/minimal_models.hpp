// The smallest types that satisfy juice::Policy and juice::RewardModel (the ones docs/concepts.md
// shows), and near-misses that lack one requirement each.
#pragma once

#include <array>
#include <span>
#include <vector>

#include "juice/backends/host/host.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/rng.hpp"

// A policy with one parameter: a constant per-token log-prob.
struct minimal_policy {
  using scalar_type = double;
  using backend_type = juice::host;
  std::vector<double> value{0.0}, grad{0.0};
  std::array<juice::parameter<juice::host, double>, 1> parameters() { return {{{"c", value, grad}}}; }
  void zero_grad() { grad[0] = 0; }
  juice::token_values<double> logprobs(const juice::sequence_batch& b) {
    return xt::zeros<double>({b.rows(), b.width()});
  }
  void backward(const juice::sequence_batch&, const juice::token_values<double>&) {}
  juice::sequence_batch sample(const juice::sequence_batch& prompts, std::size_t, juice::rng&) const { return prompts; }
  minimal_policy snapshot() const { return *this; }
};

// Everything but backward(): not a Policy.
struct policy_without_backward {
  using scalar_type = double;
  using backend_type = juice::host;
  std::vector<double> value{0.0}, grad{0.0};
  std::array<juice::parameter<juice::host, double>, 1> parameters() { return {{{"c", value, grad}}}; }
  void zero_grad() { grad[0] = 0; }
  juice::token_values<double> logprobs(const juice::sequence_batch& b) {
    return xt::zeros<double>({b.rows(), b.width()});
  }
  juice::sequence_batch sample(const juice::sequence_batch& prompts, std::size_t, juice::rng&) const { return prompts; }
  policy_without_backward snapshot() const { return *this; }
};

struct minimal_reward {
  using scalar_type = double;
  using backend_type = juice::host;
  std::vector<double> value{0.0}, grad{0.0};
  std::array<juice::parameter<juice::host, double>, 1> parameters() { return {{{"r", value, grad}}}; }
  void zero_grad() { grad[0] = 0; }
  juice::sequence_values<double> rewards(const juice::sequence_batch& b) { return xt::zeros<double>({b.rows()}); }
  void backward(const juice::sequence_batch&, const juice::sequence_values<double>&) {}
};

// rewards() returns per-token values instead of per-sequence ones: not a RewardModel.
struct reward_with_token_values {
  using scalar_type = double;
  using backend_type = juice::host;
  std::vector<double> value{0.0}, grad{0.0};
  std::array<juice::parameter<juice::host, double>, 1> parameters() { return {{{"r", value, grad}}}; }
  void zero_grad() { grad[0] = 0; }
  juice::token_values<double> rewards(const juice::sequence_batch& b) { return xt::zeros<double>({b.rows(), b.width()}); }
  void backward(const juice::sequence_batch&, const juice::sequence_values<double>&) {}
};

struct do_nothing_improver {
  template <class P, class R>
  void improve(P&, const P&, R&, const juice::sequence_batch&, double, juice::rng&) const {}
};

// One flat parameter block on the host (juice::FlatParameterised), for the data-parallel optimizer.
struct minimal_flat_model {
  using scalar_type = double;
  using backend_type = juice::host;
  std::vector<double> value{0.0, 0.0}, grad{0.0, 0.0};
  std::array<juice::parameter<juice::host, double>, 1> parameters() { return {parameter_block()}; }
  juice::parameter<juice::host, double> parameter_block() { return {"all", value, grad}; }
  juice::host backend() const { return {}; }
  void zero_grad() { grad.assign(grad.size(), 0.0); }
};
