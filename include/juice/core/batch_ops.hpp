// juice/core/batch_ops.hpp
//
// Row operations on sequence batches (select, concatenate, strip to prompts, pair), and the two
// reductions every algorithm uses between per-token and per-sequence values.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"

namespace juice {

// Throws juice::invalid_argument naming `where` and the offending row if the batch is inconsistent:
// shapes that disagree, 0 <= prompt_length <= length <= width violated, an empty prompt, or a
// negative or non-finite weight.
inline void validate(const sequence_batch& batch, const std::string& where) {
  const std::size_t B = batch.rows();
  if (batch.prompt_length.size() != B || batch.length.size() != B || batch.weight.size() != B ||
      batch.source.size() != B)
    throw invalid_argument(where + ": the batch's per-row arrays do not all have " + std::to_string(B) + " rows.");
  for (std::size_t b = 0; b < B; ++b) {
    const auto p = batch.prompt_length(b), l = batch.length(b);
    if (p < 1 || p > l || l > static_cast<std::int32_t>(batch.width()))
      throw invalid_argument(where + ": row " + std::to_string(b) + " has prompt length " + std::to_string(p) +
                             " and length " + std::to_string(l) + " (need 1 <= prompt length <= length <= " +
                             std::to_string(batch.width()) + ").");
    if (!(batch.weight(b) >= 0) || !std::isfinite(batch.weight(b)))
      throw invalid_argument(where + ": row " + std::to_string(b) + " has weight " + to_text(batch.weight(b)) +
                             " (must be finite and non-negative).");
  }
}

// The rows `index` of `batch`, in that order, keeping their weights and sources.
inline sequence_batch select_rows(const sequence_batch& batch, std::span<const std::size_t> index) {
  sequence_batch out(index.size(), batch.width());
  for (std::size_t i = 0; i < index.size(); ++i) {
    const std::size_t b = index[i];
    if (b >= batch.rows())
      throw invalid_argument("juice::select_rows: row " + std::to_string(b) + " is out of range (batch has " +
                             std::to_string(batch.rows()) + " rows).");
    std::copy_n(&batch.tokens(b, 0), batch.width(), &out.tokens(i, 0));
    out.prompt_length(i) = batch.prompt_length(b);
    out.length(i) = batch.length(b);
    out.weight(i) = batch.weight(b);
    out.source(i) = batch.source(b);
  }
  return out;
}

// Rows of `a` followed by rows of `b`; the width is the larger of the two.
inline sequence_batch concat_rows(const sequence_batch& a, const sequence_batch& b) {
  const std::size_t W = std::max(a.width(), b.width());
  sequence_batch out(a.rows() + b.rows(), W);
  auto put = [&](const sequence_batch& src, std::size_t offset) {
    for (std::size_t r = 0; r < src.rows(); ++r) {
      std::copy_n(&src.tokens(r, 0), src.width(), &out.tokens(offset + r, 0));
      out.prompt_length(offset + r) = src.prompt_length(r);
      out.length(offset + r) = src.length(r);
      out.weight(offset + r) = src.weight(r);
      out.source(offset + r) = src.source(r);
    }
  };
  put(a, 0);
  put(b, a.rows());
  return out;
}

// The prompts of `batch` (responses removed); source(b) = b so generated rows point back at row b.
inline sequence_batch prompts_of(const sequence_batch& batch) {
  std::int32_t W = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b) W = std::max(W, batch.prompt_length(b));
  sequence_batch out(batch.rows(), static_cast<std::size_t>(W));
  for (std::size_t b = 0; b < batch.rows(); ++b) {
    std::copy_n(&batch.tokens(b, 0), batch.prompt_length(b), &out.tokens(b, 0));
    out.prompt_length(b) = out.length(b) = batch.prompt_length(b);
    out.weight(b) = batch.weight(b);
  }
  return out;
}

// Per-sequence sums of per-token values over each row's response: log pi(y|x) from token log-probs.
template <class T>
sequence_values<double> sequence_sum(const token_values<T>& values, const sequence_batch& batch) {
  sequence_values<double> out = xt::zeros<double>({batch.rows()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) out(b) += static_cast<double>(values(b, t));
  return out;
}

// Per-token values equal to per_row[b] on every response token of row b and zero elsewhere: the
// token weights whose backward pass gives d/dtheta sum_b per_row[b] log pi(y_b|x_b).
template <class T>
token_values<T> spread_over_response(std::span<const double> per_row, const sequence_batch& batch) {
  token_values<T> out = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) out(b, t) = static_cast<T>(per_row[b]);
  return out;
}

// Demonstration/generation pairs: row i of `chosen` and row i of `rejected` answer the same prompt;
// weight(i) is the pair's probability weight.
struct pair_batch {
  sequence_batch chosen;
  sequence_batch rejected;
  xt::xtensor<double, 1> weight;

  [[nodiscard]] std::size_t rows() const { return weight.size(); }
};

// Pairs every generated row g with the data row it answers (generated.source(g)). The pair's weight
// is generated.weight(g), which already carries the prompt's weight (generation multiplies it in):
// with one sample per prompt this is a minibatch of (y, y~) pairs; with exact enumeration it is the
// exact expectation over y~ ~ pi.
inline pair_batch make_pairs(const sequence_batch& data, const sequence_batch& generated) {
  std::vector<std::size_t> src(generated.rows());
  for (std::size_t g = 0; g < generated.rows(); ++g) {
    const auto s = generated.source(g);
    if (s < 0 || static_cast<std::size_t>(s) >= data.rows())
      throw invalid_argument("juice::make_pairs: generated row " + std::to_string(g) + " answers prompt " +
                             std::to_string(s) + ", which is not a row of the data batch.");
    src[g] = static_cast<std::size_t>(s);
  }
  return pair_batch{select_rows(data, src), generated, generated.weight};
}

// Sets the weights to w / sum(w) (all equal if they sum to zero).
inline void normalise_weights(sequence_batch& batch) {
  double total = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b) total += batch.weight(b);
  for (std::size_t b = 0; b < batch.rows(); ++b)
    batch.weight(b) = total > 0 ? batch.weight(b) / total : 1.0 / static_cast<double>(batch.rows());
}

// The pairs `index`, with weights rescaled so that the subset is an unbiased estimate of the whole:
// weight * (pairs.rows() / index.size()).
inline pair_batch select_pairs(const pair_batch& pairs, std::span<const std::size_t> index) {
  pair_batch out{select_rows(pairs.chosen, index), select_rows(pairs.rejected, index),
                 xt::zeros<double>({index.size()})};
  const double scale = static_cast<double>(pairs.rows()) / static_cast<double>(index.size());
  for (std::size_t i = 0; i < index.size(); ++i) out.weight(i) = pairs.weight(index[i]) * scale;
  return out;
}

}  // namespace juice
