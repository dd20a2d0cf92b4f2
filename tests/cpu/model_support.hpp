// Tiny transformer configurations and batches for the CPU model tests.
#pragma once

#include <vector>

#include "juice/core/batch.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::test {

// L=2, NH=2, C=8, context 12, vocab 11: small enough for finite differences over every parameter.
inline transformer_config tiny_config() { return {2, 2, 8, 12, 11}; }

// Rows given as (prompt tokens, response tokens), right-padded to the longest row.
inline sequence_batch make_batch(const std::vector<std::pair<std::vector<int>, std::vector<int>>>& rows) {
  std::size_t W = 0;
  for (auto& [p, r] : rows) W = std::max(W, p.size() + r.size());
  sequence_batch b(rows.size(), W);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::size_t t = 0;
    for (int x : rows[i].first) b.tokens(i, t++) = x;
    for (int x : rows[i].second) b.tokens(i, t++) = x;
    b.prompt_length(i) = static_cast<std::int32_t>(rows[i].first.size());
    b.length(i) = static_cast<std::int32_t>(t);
  }
  return b;
}

// Two rows of different prompt and response lengths, the second padded: (1 2 3 | 4 5 6), (7 | 8 9).
inline sequence_batch two_rows() { return make_batch({{{1, 2, 3}, {4, 5, 6}}, {{7}, {8, 9}}}); }

}  // namespace juice::test
