// juice/core/sampling.hpp
//
// The sampling protocol every backend follows, so that two backends given the same logits and the
// same seed emit the same tokens. For each row of logits and each decoding step the model draws one
// uniform u in [0, 1) on the host (juice::rng, rows in order, one per row and step whether or not the
// row is still generating); the backend then
//   1. forms the support: all tokens, or the top_k most likely (top_k > 0), then the smallest prefix
//      of the most likely tokens whose tempered mass reaches top_p (top_p < 1); with either limit
//      the kept tokens are ordered by descending logit, ties by the lower id, and without one by id
//      (no sort on the common path);
//   2. weighs each kept token w_i = exp((logit_i - max logit) / temperature), in double precision;
//   3. returns the first kept token whose running sum of weights exceeds u * sum(w) (the last kept
//      token if rounding leaves none): the inverse CDF.
// temperature 0 is greedy: the first maximal logit, u unused. This header holds the options and a
// reference implementation of one row on the host; backends implement the same rule on their data.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "juice/core/error.hpp"

namespace juice {

struct sampling_options {
  double temperature = 1.0;  // 0 = greedy
  std::size_t top_k = 0;     // 0 = no limit
  double top_p = 1.0;        // 1 = no limit
};

// Throws juice::invalid_argument naming the bad option.
inline void validate(const sampling_options& o) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature) || !(o.top_p > 0 && o.top_p <= 1))
    throw invalid_argument("juice::sampling_options: temperature must be finite and >= 0 and top_p in (0, 1] (got " +
                           std::to_string(o.temperature) + ", " + std::to_string(o.top_p) + ").");
}

// The kept tokens and their weights (not normalised), most likely first (steps 1 and 2).
template <class T>
std::vector<std::pair<int, double>> sampling_support(std::span<const T> logits, const sampling_options& o) {
  validate(o);
  const std::size_t V = logits.size();
  if (V == 0) throw invalid_argument("juice::sampling_support: the row of logits is empty.");
  if (o.temperature == 0) {  // greedy: the first maximal logit
    std::size_t best = 0;
    for (std::size_t v = 1; v < V; ++v)
      if (logits[v] > logits[best]) best = v;
    return {{static_cast<int>(best), 1.0}};
  }
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  auto by_logit = [&](int a, int b) {
    const T la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::size_t keep = V;
  if (o.top_k > 0 && o.top_k < V) {
    keep = o.top_k;
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(), by_logit);
  } else if (o.top_p < 1) {
    std::sort(order.begin(), order.end(), by_logit);
  }
  const double top = static_cast<double>(*std::max_element(logits.begin(), logits.end()));
  std::vector<std::pair<int, double>> out;
  out.reserve(keep);
  double total = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    const double w = std::exp((static_cast<double>(logits[static_cast<std::size_t>(order[i])]) - top) / o.temperature);
    out.emplace_back(order[i], w);
    total += w;
  }
  if (o.top_p < 1) {
    double acc = 0;
    std::size_t n = 0;
    while (n < out.size()) {
      acc += out[n].second;
      ++n;
      if (acc >= o.top_p * total) break;
    }
    out.resize(n);
  }
  return out;
}

// The token the protocol emits for one row of logits and the row's uniform u (step 3).
template <class T>
int sample_with_uniform(std::span<const T> logits, const sampling_options& o, double u) {
  const auto support = sampling_support(logits, o);
  if (support.size() == 1) return support[0].first;
  double total = 0;
  for (const auto& s : support) total += s.second;
  const double target = u * total;
  double acc = 0;
  for (const auto& s : support) {
    acc += s.second;
    if (target < acc) return s.first;
  }
  return support.back().first;
}

}  // namespace juice
