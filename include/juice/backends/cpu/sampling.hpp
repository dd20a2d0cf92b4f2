// juice/backends/cpu/sampling.hpp
//
// Categorical sampling from one row of logits with temperature, top-k and top-p (nucleus)
// truncation, drawn through juice::rng so a seed reproduces a generation exactly:
//   p ~ softmax(logits / temperature), restricted to the k most likely tokens (top_k > 0) and then
//   to the smallest set of most likely tokens whose mass reaches top_p (top_p < 1), renormalised.
// temperature 0 means greedy (argmax). Ties are broken by the lower token id.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"

namespace juice {

struct sampling_options {
  double temperature = 1.0;  // 0 = greedy
  std::size_t top_k = 0;     // 0 = no limit
  double top_p = 1.0;        // 1 = no limit
};

}  // namespace juice

namespace juice::cpu_kernels {

// The tokens sampling may emit and their probabilities (not normalised), in descending order.
template <class T>
std::vector<std::pair<int, double>> sampling_support(std::span<const T> logits, const sampling_options& o) {
  if (!(o.temperature >= 0) || !(o.top_p > 0 && o.top_p <= 1))
    throw invalid_argument("juice::sample_token: temperature must be >= 0 and top_p in (0, 1] (got " +
                           std::to_string(o.temperature) + ", " + std::to_string(o.top_p) + ").");
  const std::size_t V = logits.size();
  if (o.temperature == 0) {  // greedy: the first maximal logit
    std::size_t best = 0;
    for (std::size_t v = 1; v < V; ++v)
      if (logits[v] > logits[best]) best = v;
    return {{static_cast<int>(best), 1.0}};
  }
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  auto by_logit = [&](int a, int b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)] ||
           (logits[static_cast<std::size_t>(a)] == logits[static_cast<std::size_t>(b)] && a < b);
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
    const double p = std::exp((static_cast<double>(logits[static_cast<std::size_t>(order[i])]) - top) / o.temperature);
    out.emplace_back(order[i], p);
    total += p;
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

// One token id drawn from the truncated, tempered distribution of `logits`.
template <class T>
int sample_token(std::span<const T> logits, const sampling_options& o, rng& g) {
  const auto support = sampling_support(logits, o);
  if (support.size() == 1) return support[0].first;
  std::vector<double> w(support.size());
  for (std::size_t i = 0; i < support.size(); ++i) w[i] = support[i].second;
  return support[g.categorical(std::span<const double>(w))].first;
}

}  // namespace juice::cpu_kernels
