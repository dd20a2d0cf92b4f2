// juice/mdp/logprob.hpp
//
// Sequence log-probabilities from per-token log-probs and masks. DESIGN.md fixes log pi(y|x) as the
// SUM of response-token log-probs with prompt tokens masked (as in the paper's code); these helpers
// make the mask explicit, so per-token tables from any model (and masks that drop further tokens,
// e.g. padding inside a response or a truncated tail) reduce the same way.
#pragma once

#include <cstddef>
#include <string>

#include "juice/core/batch.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"

namespace juice::mdp {

// 1 on every response token of the batch, 0 on prompt tokens and padding.
template <class T = double>
token_values<T> response_mask(const sequence_batch& batch) {
  token_values<T> m = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) m(b, static_cast<std::size_t>(t)) = T(1);
  return m;
}

namespace detail {
template <class T, class M>
void check_shapes(const token_values<T>& values, const token_values<M>& mask, const char* who) {
  if (values.shape() != mask.shape())
    throw invalid_argument(std::string(who) + ": the values are " + std::to_string(values.shape()[0]) + " x " +
                           std::to_string(values.shape()[1]) + " but the mask is " + std::to_string(mask.shape()[0]) +
                           " x " + std::to_string(mask.shape()[1]) + ".");
}
}  // namespace detail

// sum_t mask(b,t) values(b,t) per row: log pi(y|x) from per-token log-probs and a response mask.
template <class T, class M>
sequence_values<double> masked_sum(const token_values<T>& values, const token_values<M>& mask) {
  detail::check_shapes(values, mask, "juice::mdp::masked_sum");
  sequence_values<double> out = xt::zeros<double>({values.shape()[0]});
  for (std::size_t b = 0; b < values.shape()[0]; ++b)
    for (std::size_t t = 0; t < values.shape()[1]; ++t)
      out(b) += static_cast<double>(mask(b, t)) * static_cast<double>(values(b, t));
  return out;
}

// The masked mean per row (sum over the mask's weight); rows with an empty mask get 0.
template <class T, class M>
sequence_values<double> masked_mean(const token_values<T>& values, const token_values<M>& mask) {
  detail::check_shapes(values, mask, "juice::mdp::masked_mean");
  sequence_values<double> out = masked_sum(values, mask);
  for (std::size_t b = 0; b < values.shape()[0]; ++b) {
    double n = 0;
    for (std::size_t t = 0; t < values.shape()[1]; ++t) n += static_cast<double>(mask(b, t));
    out(b) = n > 0 ? out(b) / n : 0.0;
  }
  return out;
}

// log pi(y|x) per row: the sum over the batch's response tokens (juice::sequence_sum, the one the
// algorithms use), after checking that the table has the batch's shape.
template <class T>
sequence_values<double> sequence_logprobs(const token_values<T>& logp, const sequence_batch& batch) {
  if (logp.shape()[0] != batch.rows() || logp.shape()[1] != batch.width())
    throw invalid_argument("juice::mdp::sequence_logprobs: the values are " + std::to_string(logp.shape()[0]) + " x " +
                           std::to_string(logp.shape()[1]) + " but the batch is " + std::to_string(batch.rows()) +
                           " x " + std::to_string(batch.width()) + ".");
  return sequence_sum(logp, batch);
}

}  // namespace juice::mdp
