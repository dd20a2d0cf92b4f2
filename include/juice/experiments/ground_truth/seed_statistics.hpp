// juice/experiments/ground_truth/seed_statistics.hpp
//
// Summaries over seeds: the mean and its standard error (sample standard deviation / sqrt(n), 0 for
// a single seed), and the paired difference of two methods run on the same seeds, whose standard
// error removes the between-seed variation both share (the base model, the prompts, the data).
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "juice/core/error.hpp"

namespace juice::experiments::ground_truth {

struct mean_se {
  double mean = 0;
  double se = 0;
};

inline mean_se summarise(std::span<const double> values) {
  mean_se out;
  const std::size_t n = values.size();
  if (n == 0) return out;
  for (double v : values) out.mean += v / static_cast<double>(n);
  if (n < 2) return out;
  double ss = 0;
  for (double v : values) ss += (v - out.mean) * (v - out.mean);
  out.se = std::sqrt(ss / static_cast<double>(n - 1) / static_cast<double>(n));
  return out;
}

// Mean and standard error of a[i] - b[i] over the seeds i.
inline mean_se summarise_paired(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size())
    throw invalid_argument("juice::ground_truth::summarise_paired: " + std::to_string(a.size()) + " and " +
                           std::to_string(b.size()) + " values are not paired.");
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return summarise(d);
}

}  // namespace juice::experiments::ground_truth
