// Shared test support: per-type tolerances, element-wise comparison that reports the worst element,
// central finite differences over a model's parameters, and the one-state toy problem with its
// independently computed closed form.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "juice/backends/tabular/tabular.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/rng.hpp"

namespace juice::test {

// Tolerances per scalar type: exact arithmetic checks, and finite-difference gradient checks.
template <class T> struct tolerance;
template <> struct tolerance<double> {
  static constexpr double exact = 1e-12;
  static constexpr double fd_step = 1e-6;
  static constexpr double fd_atol = 1e-7;
  static constexpr double fd_rtol = 1e-6;
};
template <> struct tolerance<float> {
  static constexpr double exact = 1e-5;
  static constexpr double fd_step = 1e-2;
  static constexpr double fd_atol = 2e-3;
  static constexpr double fd_rtol = 2e-2;
};

// |a - b| <= atol + rtol |b| element-wise; on failure the message names the worst element.
inline void check_close(const std::vector<double>& a, const std::vector<double>& b, double atol, double rtol,
                        const std::string& what) {
  BOOST_REQUIRE_MESSAGE(a.size() == b.size(), what << ": sizes differ (" << a.size() << " vs " << b.size() << ")");
  std::size_t worst = 0;
  double worst_excess = -1;
  bool ok = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double bound = atol + rtol * std::abs(b[i]);
    const double err = std::abs(a[i] - b[i]);
    if (!(err <= bound)) ok = false;
    const double excess = std::isfinite(err) ? err - bound : 1e300;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  std::ostringstream msg;
  msg.precision(12);
  if (!a.empty())
    msg << what << ": worst element " << worst << ": " << a[worst] << " vs " << b[worst]
        << " (|diff| = " << std::abs(a[worst] - b[worst]) << ", atol " << atol << ", rtol " << rtol << ")";
  BOOST_CHECK_MESSAGE(ok, msg.str());
}

// Central finite differences of f over every element of `values` (modified in place and restored).
template <class S>
std::vector<double> finite_difference(std::span<S> values, double h, const std::function<double()>& f) {
  std::vector<double> g(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const S saved = values[i];
    values[i] = static_cast<S>(static_cast<double>(saved) + h);
    const double up = f();
    values[i] = static_cast<S>(static_cast<double>(saved) - h);
    const double down = f();
    values[i] = saved;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

template <class S>
std::vector<double> to_vector(std::span<const S> v) {
  return std::vector<double>(v.begin(), v.end());
}

// A batch of one-step rows (prompt token x, response token a) with uniform weights.
inline sequence_batch bandit_rows(const std::vector<std::pair<int, int>>& xa) {
  sequence_batch b(xa.size(), 2);
  for (std::size_t r = 0; r < xa.size(); ++r) {
    b.tokens(r, 0) = xa[r].first;
    b.tokens(r, 1) = xa[r].second;
    b.prompt_length(r) = 1;
    b.length(r) = 2;
  }
  return b;
}

// Mean of M draws of a vector estimator against the exact vector, along 8 fixed random directions
// u: u . mean lies within 4 standard errors of u . exact. (Coordinate-wise checks would trip on
// coordinates whose rare events no draw hits, where the sample standard error is zero.)
template <class Draw>
void check_unbiased(const std::vector<double>& exact, std::size_t M, Draw draw, const std::string& what) {
  constexpr std::size_t U = 8;
  rng dir(2718);
  std::vector<std::vector<double>> u(U, std::vector<double>(exact.size()));
  for (auto& d : u)
    for (double& e : d) e = standard_normal(dir);
  std::vector<double> m(U, 0.0), m2(U, 0.0), want(U, 0.0);
  for (std::size_t j = 0; j < U; ++j)
    for (std::size_t i = 0; i < exact.size(); ++i) want[j] += u[j][i] * exact[i];
  for (std::size_t k = 0; k < M; ++k) {
    const auto v = draw(k);
    for (std::size_t j = 0; j < U; ++j) {
      double p = 0;
      for (std::size_t i = 0; i < v.size(); ++i) p += u[j][i] * v[i];
      m[j] += p;
      m2[j] += p * p;
    }
  }
  for (std::size_t j = 0; j < U; ++j) {
    const double mean = m[j] / static_cast<double>(M);
    const double se = std::sqrt(std::max(0.0, m2[j] / static_cast<double>(M) - mean * mean) / static_cast<double>(M));
    BOOST_TEST(se > 0.0);
    BOOST_TEST(std::abs(mean - want[j]) <= 4 * se,
               what << ": direction " << j << ": mean " << mean << " vs exact " << want[j] << " (se " << se << ")");
  }
}

// The one-state example's closed form, solved independently of the library: with a uniform
// reference over three actions, beta = 1, lambda = 1 and demonstrations of a1 only, the optimum is
// r = (2u, -u, -u) with u = 1/(exp(3u) + 2); bisection on g(u) = u (exp(3u) + 2) - 1.
inline double one_state_u() {
  double lo = 0, hi = 1;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (mid * (std::exp(3 * mid) + 2) - 1 > 0 ? hi : lo) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace juice::test
