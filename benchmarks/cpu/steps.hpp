// Shared pieces of the CPU benchmarks: the model shapes, the example batches, the inner steps of
// SFT and IRFT exactly as juice::sft and juice::irft run them, and analytic FLOP counts.
#pragma once

#include <cstddef>
#include <vector>

#include "juice/algorithms/detail/gradient_step.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"

namespace juice::bench {

using policy_t = transformer<cpu, float>;

inline constexpr std::size_t batch_rows = 4, seq_len = 64, prompt_len = 8;

// B rows of T tokens: a prompt of prompt_len tokens and a response filling the row.
inline sequence_batch random_rows(std::size_t B, std::size_t T, std::size_t P, std::size_t vocab, std::uint64_t seed) {
  rng g(seed);
  sequence_batch b(B, T);
  for (std::size_t r = 0; r < B; ++r) {
    for (std::size_t t = 0; t < T; ++t) b.tokens(r, t) = static_cast<token_t>(g.below(vocab));
    b.prompt_length(r) = static_cast<std::int32_t>(P);
    b.length(r) = static_cast<std::int32_t>(T);
  }
  return b;
}

// The rejected responses: same prompts, different response tokens.
inline pair_batch example_pairs(const sequence_batch& chosen, std::size_t vocab) {
  sequence_batch rejected = random_rows(chosen.rows(), chosen.width(), static_cast<std::size_t>(chosen.prompt_length(0)), vocab, 99);
  for (std::size_t r = 0; r < chosen.rows(); ++r)
    for (std::int32_t t = 0; t < chosen.prompt_length(r); ++t) rejected.tokens(r, static_cast<std::size_t>(t)) = chosen.tokens(r, static_cast<std::size_t>(t));
  return make_pairs(chosen, rejected);
}

// One SFT update, as juice::sft's loop body (detail::gradient_step: zero_grad, backward, gradient
// norm and its finiteness check, the optimizer step fused with clearing the gradients).
template <class Policy = policy_t>
double sft_step(Policy& p, const sequence_batch& mb, adamw& opt) {
  const auto logp = p.logprobs(mb);
  token_values<float> w;
  const double loss = sft_loss(mb, logp, sft_normalisation::token_mean, &w);
  detail::gradient_step(p, opt, "juice bench sft step", [&] { p.backward(mb, w); });
  return loss;
}

// The round's cached reference log-probs (once per round in juice::irft).
inline std::vector<double> reference_logprobs(const policy_t& p, const pair_batch& pairs) {
  const sequence_batch both = concat_rows(pairs.chosen, pairs.rejected);
  const auto seq = sequence_sum(p.logprobs(both), both);
  return std::vector<double>(seq.begin(), seq.end());
}

// One IRFT inner update, as juice::irft's loop body.
inline double irft_step(policy_t& p, const pair_batch& pairs, const std::vector<double>& ref, adamw& opt, double beta = 0.1) {
  const sequence_batch both = concat_rows(pairs.chosen, pairs.rejected);
  const auto logp = p.logprobs(both);
  token_values<float> w;
  const double loss = irft_loss<sigmoid_loss>(pairs, both, logp, ref, beta, &w);
  detail::gradient_step(p, opt, "juice bench irft step", [&] { p.backward(both, w); });
  return loss;
}

// FLOPs of one forward+backward (3x forward) over `rows` rows of T tokens with M scored positions:
// the linear layers (2 N C OC each way), causal attention (QK^T and AV over t+1 keys) and the LM
// head on the scored positions. AdamW and element-wise work are not counted (as in llm.c's MFU).
inline double train_flops(const transformer_config& c, double rows, double T, double M) {
  const double C = static_cast<double>(c.channels), L = static_cast<double>(c.layers), V = static_cast<double>(c.vocab);
  const double N = rows * T;
  const double fwd = L * (24 * N * C * C + 2 * rows * C * T * (T + 1)) + 2 * M * C * V;
  return 3 * fwd;
}

// The response positions a batch scores (the M of train_flops).
inline double scored_positions(const sequence_batch& b) {
  double m = 0;
  for (std::size_t r = 0; r < b.rows(); ++r) m += static_cast<double>(b.response_length(r));
  return m;
}

inline adamw_hyper bench_adamw() { return adamw_hyper{1e-4, 0.9, 0.95, 1e-8, 0.0}; }

}  // namespace juice::bench
