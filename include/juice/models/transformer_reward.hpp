// juice/models/transformer_reward.hpp
//
// juice::transformer_reward<Backend, T>: a reward model r_theta(x, y) as a juice::RewardModel, for
// every family juice::transformer runs: the same trunk (decoder_trunk) without an LM head, and a
// scalar head r = w . h_last + b read at the last response token (the hidden state after the whole
// response), the usual RLHF reward-model design (Ouyang et al. 2022). It can start from a policy's
// trunk.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/models/decoder_trunk.hpp"
#include "juice/models/transformer.hpp"

namespace juice {

template <class Backend, class T>
class transformer_reward {
  static_assert(TransformerBackend<Backend, T>,
                "juice::transformer_reward: the backend must provide the transformer primitives "
                "(juice::TransformerBackend); see juice/concepts/transformer_backend.hpp");

public:
  using scalar_type = T;
  using backend_type = Backend;
  using B = Backend;

  // A freshly initialised reward model on a default backend object.
  explicit transformer_reward(transformer_config cfg, std::uint64_t seed = 0) requires std::default_initializable<B>
      : transformer_reward(B{}, cfg, seed) {}
  // The same on the given backend object.
  transformer_reward(B backend, transformer_config cfg, std::uint64_t seed = 0)
      : trunk_(std::move(backend), cfg, false, {{"reward_head.weight", cfg.channels}, {"reward_head.bias", 1}}, seed) {}

  // A reward model on the policy's backend whose trunk starts as a copy of the policy's (the head is
  // initialised from seed).
  explicit transformer_reward(const transformer<B, T>& policy, std::uint64_t seed = 0)
      : transformer_reward(policy.backend(), policy.config(), seed) {
    trunk_.copy_parameters_from(policy.trunk(), true);
  }

  [[nodiscard]] const transformer_config& config() const { return trunk_.config(); }
  [[nodiscard]] std::size_t num_parameters() const { return trunk_.size(); }
  // The backend object the model runs on.
  B& backend() const { return trunk_.backend(); }
  // The trunk (parameters and workspaces).
  [[nodiscard]] const detail::decoder_trunk<B, T>& trunk() const { return trunk_; }

  // --- juice::Parameterised / FlatParameterised ---
  std::vector<parameter<B, T>> parameters() { return trunk_.parameters(); }
  parameter<B, T> parameter_block() { return trunk_.parameter_block(); }
  void zero_grad() { trunk_.zero_grad(); }

  // --- juice::RewardModel ---
  sequence_values<T> rewards(const sequence_batch& batch) const {
    detail::check_tokens(batch, config(), "juice::transformer_reward::rewards");
    B& be = backend();
    const std::size_t R = batch.rows(), W = std::max<std::size_t>(detail::max_length(batch), 1);
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels);
    const cptr lnf = trunk_.forward(detail::token_array(batch, W), R, W);
    std::vector<int> idx(R);
    for (std::size_t b = 0; b < R; ++b) idx[b] = static_cast<int>(b * W + static_cast<std::size_t>(batch.length(b)) - 1);
    ensure(index_, R);
    ensure(h_, R * config().channels);
    ensure(r_, R);
    be.upload(idx.data(), be.data(index_), R);
    be.gather_rows(be.data(h_), lnf, cidata(), static_cast<std::ptrdiff_t>(R), C);
    const std::size_t hi = trunk_.head_index(0);
    be.matmul_forward(be.data(r_), cptr(be.data(h_)), trunk_.param(hi), trunk_.param(hi + 1), static_cast<std::ptrdiff_t>(R), C,
                      std::ptrdiff_t{1});
    sequence_values<T> out = xt::zeros<T>({R});
    be.download(cptr(be.data(r_)), out.data(), R);
    rows_ = R;
    valid_ = true;
    return out;
  }

  // Adds d/dtheta sum_b weights(b) r(x_b, y_b); call once after rewards(batch).
  void backward(const sequence_batch& batch, const sequence_values<T>& weights) {
    if (!valid_ || rows_ != batch.rows() || weights.size() != batch.rows())
      throw invalid_argument("juice::transformer_reward::backward: call rewards(batch) on the same batch first, with one weight per row.");
    valid_ = false;
    B& be = backend();
    const std::size_t R = batch.rows();
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels);
    ensure(g_, R);
    ensure(dh_, R * config().channels);
    be.upload(weights.data(), be.data(g_), R);
    const std::size_t hi = trunk_.head_index(0);
    be.matmul_backward(be.data(dh_), trunk_.grad(hi), trunk_.grad(hi + 1), cptr(be.data(g_)), cptr(be.data(h_)),
                       std::as_const(trunk_).param(hi), static_cast<std::ptrdiff_t>(R), C, std::ptrdiff_t{1});
    const ptr dlnf = trunk_.trunk_grad_buffer();
    be.scatter_add_rows(dlnf, cptr(be.data(dh_)), cidata(), static_cast<std::ptrdiff_t>(R), C);
    trunk_.backward(dlnf);
  }

private:
  using ptr = typename B::template pointer<T>;
  using cptr = typename B::template const_pointer<T>;
  using ciptr = typename B::template const_pointer<int>;

  ciptr cidata() const { return backend().data(std::as_const(index_)); }
  void ensure(typename B::template buffer<T>& b, std::size_t n) const { detail::grow<T>(backend(), b, n); }
  void ensure(typename B::template buffer<int>& b, std::size_t n) const { detail::grow<int>(backend(), b, n); }

  detail::decoder_trunk<B, T> trunk_;
  mutable typename B::template buffer<int> index_;
  mutable typename B::template buffer<T> h_, r_, g_, dh_;
  mutable std::size_t rows_ = 0;
  mutable bool valid_ = false;
};

}  // namespace juice
