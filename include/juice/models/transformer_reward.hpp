// juice/models/transformer_reward.hpp
//
// juice::transformer_reward<Backend, T>: a GPT-2 family reward model r_theta(x, y) as a
// juice::RewardModel: the same trunk as juice::transformer (gpt2_trunk) with a scalar head
// r = w . h_last + b read at the last response token (the hidden state after the whole response),
// the usual RLHF reward-model design (Ouyang et al. 2022). It can start from a policy's trunk.
#pragma once

#include <cstddef>
#include <vector>

#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/models/gpt2_trunk.hpp"
#include "juice/models/transformer.hpp"

namespace juice {

template <class Backend, class T>
class transformer_reward {
  static_assert(TransformerBackend<Backend, T>,
                "juice::transformer_reward: the backend must provide the transformer primitives "
                "(juice::TransformerBackend); see juice/models/transformer_backend.hpp");

public:
  using scalar_type = T;
  using backend_type = Backend;
  using B = Backend;

  // A freshly initialised reward model.
  explicit transformer_reward(transformer_config cfg, std::uint64_t seed = 0)
      : trunk_(cfg, {{"reward_head.weight", cfg.channels}, {"reward_head.bias", 1}}, seed) {}

  // A reward model whose trunk starts as a copy of the policy's (the head is initialised from seed).
  explicit transformer_reward(const transformer<B, T>& policy, std::uint64_t seed = 0)
      : transformer_reward(policy.config(), seed) {
    trunk_.copy_parameters_from(policy.trunk(), true);
  }

  [[nodiscard]] const transformer_config& config() const { return trunk_.config(); }
  [[nodiscard]] std::size_t num_parameters() const { return trunk_.size(); }

  // --- juice::Parameterised ---
  std::vector<parameter<B, T>> parameters() { return trunk_.parameters(); }
  void zero_grad() { trunk_.zero_grad(); }

  // --- juice::RewardModel ---
  sequence_values<T> rewards(const sequence_batch& batch) const {
    detail::check_tokens(batch, config(), "juice::transformer_reward::rewards");
    const std::size_t R = batch.rows(), W = std::max<std::size_t>(detail::max_length(batch), 1);
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels);
    const T* lnf = trunk_.forward(detail::token_array(batch, W), R, W);
    std::vector<int> idx(R);
    for (std::size_t b = 0; b < R; ++b) idx[b] = static_cast<int>(b * W + static_cast<std::size_t>(batch.length(b)) - 1);
    ensure(index_, R);
    ensure(h_, R * config().channels);
    ensure(r_, R);
    B::upload(idx.data(), B::data(index_), R);
    B::gather_rows(B::data(h_), lnf, B::data(index_), static_cast<std::ptrdiff_t>(R), C);
    const std::size_t hi = trunk_.head_index(0);
    B::matmul_forward(B::data(r_), B::data(h_), trunk_.param(hi), trunk_.param(hi + 1), static_cast<std::ptrdiff_t>(R), C,
                      std::ptrdiff_t{1});
    sequence_values<T> out = xt::zeros<T>({R});
    B::download(B::data(r_), out.data(), R);
    rows_ = R;
    valid_ = true;
    return out;
  }

  // Adds d/dtheta sum_b weights(b) r(x_b, y_b); call once after rewards(batch).
  void backward(const sequence_batch& batch, const sequence_values<T>& weights) {
    if (!valid_ || rows_ != batch.rows() || weights.size() != batch.rows())
      throw invalid_argument("juice::transformer_reward::backward: call rewards(batch) on the same batch first, with one weight per row.");
    valid_ = false;
    const std::size_t R = batch.rows();
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels);
    ensure(g_, R);
    ensure(dh_, R * config().channels);
    B::upload(weights.data(), B::data(g_), R);
    const std::size_t hi = trunk_.head_index(0);
    B::matmul_backward(B::data(dh_), trunk_.grad(hi), trunk_.grad(hi + 1), B::data(g_), B::data(h_), trunk_.param(hi),
                       static_cast<std::ptrdiff_t>(R), C, std::ptrdiff_t{1});
    T* dlnf = trunk_.trunk_grad_buffer();
    B::scatter_add_rows(dlnf, B::data(dh_), B::data(index_), static_cast<std::ptrdiff_t>(R), C);
    trunk_.backward(dlnf);
  }

private:
  template <class Buf>
  static void ensure(Buf& b, std::size_t n) {
    if (b.size() < n) b = B::template allocate<typename Buf::value_type>(n);
  }

  detail::gpt2_trunk<B, T> trunk_;
  mutable typename B::template buffer<int> index_;
  mutable typename B::template buffer<T> h_, r_, g_, dh_;
  mutable std::size_t rows_ = 0;
  mutable bool valid_ = false;
};

static_assert(RewardModel<transformer_reward<cpu, float>>, "juice::transformer_reward<cpu, float> must satisfy juice::RewardModel");
static_assert(RewardModel<transformer_reward<cpu, double>>, "juice::transformer_reward<cpu, double> must satisfy juice::RewardModel");

}  // namespace juice
