// juice/core/batch.hpp
//
// The data every algorithm exchanges with a model: a batch of token sequences (prompt followed by
// response, right-padded), per-token values (log-probs or gradient weights) and per-sequence values
// (rewards, losses). These live on the host whatever the backend: they are (B,T) and (B) sized, tiny
// next to a model, and keeping them on the host keeps the algorithms free of backend code.
#pragma once

#include <cstddef>
#include <cstdint>

#include <xtensor/xtensor.hpp>

#include "juice/core/error.hpp"

namespace juice {

using token_t = std::int32_t;

// Per-token values, shape (B,T): entry (b,t) belongs to token tokens(b,t), e.g. its log-probability
// log pi(tokens(b,t) | tokens(b,<t)). Entries outside a row's response are zero.
template <class T>
using token_values = xt::xtensor<T, 2>;

// Per-sequence values, shape (B).
template <class T>
using sequence_values = xt::xtensor<T, 1>;

// A batch of sequences. Row b holds its prompt in positions [0, prompt_length(b)) and its response
// in [prompt_length(b), length(b)); positions from length(b) on are padding (token 0).
//
// weight(b) is the row's probability weight in the expectation the batch stands for: 1/B for a
// uniform minibatch, pi(y|x) rho(x) for an enumerated response. Losses are weighted sums over rows.
// source(b) is the index of the prompt (in the prompt batch it was generated from, or in the data
// set it was taken from) that the row answers.
struct sequence_batch {
  xt::xtensor<token_t, 2> tokens;
  xt::xtensor<std::int32_t, 1> prompt_length;
  xt::xtensor<std::int32_t, 1> length;
  xt::xtensor<double, 1> weight;
  xt::xtensor<std::int32_t, 1> source;

  sequence_batch() : sequence_batch(0, 0) {}

  // An all-padding batch of `rows` rows and `width` positions, with weights 1/rows.
  sequence_batch(std::size_t rows, std::size_t width)
      : tokens({rows, width}, 0), prompt_length({rows}, 0), length({rows}, 0),
        weight({rows}, rows ? 1.0 / static_cast<double>(rows) : 0.0), source({rows}, 0) {
    for (std::size_t b = 0; b < rows; ++b) source(b) = static_cast<std::int32_t>(b);
  }

  // Number of rows B.
  [[nodiscard]] std::size_t rows() const { return tokens.shape()[0]; }
  // Padded width T.
  [[nodiscard]] std::size_t width() const { return tokens.shape()[1]; }
  // Number of response tokens of row b.
  [[nodiscard]] std::size_t response_length(std::size_t b) const {
    return static_cast<std::size_t>(length(b) - prompt_length(b));
  }
  // Whether position t of row b is a response token (the positions a policy is scored on).
  [[nodiscard]] bool is_response(std::size_t b, std::size_t t) const {
    return static_cast<std::int32_t>(t) >= prompt_length(b) && static_cast<std::int32_t>(t) < length(b);
  }
};

}  // namespace juice
