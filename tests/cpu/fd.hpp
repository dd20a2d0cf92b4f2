// Helpers for the CPU tests: random tensors and finite-difference checks of L = sum(out .* R).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "juice/core/rng.hpp"
#include "juice_test.hpp"

namespace juice::test {

inline std::vector<double> random_vector(std::size_t n, rng& g, double scale = 1.0) {
  std::vector<double> v(n);
  for (auto& x : v) x = scale * (2 * g.uniform() - 1);
  return v;
}

inline double weighted_sum(const std::vector<double>& out, const std::vector<double>& r) {
  double s = 0;
  for (std::size_t i = 0; i < out.size(); ++i) s += out[i] * r[i];
  return s;
}

// Checks `analytic` against central differences of `loss` over every element of x.
inline void check_fd(std::vector<double>& x, const std::function<double()>& loss, const std::vector<double>& analytic,
                     const std::string& what) {
  const auto numeric = finite_difference<double>(std::span<double>(x), tolerance<double>::fd_step, loss);
  check_close(analytic, numeric, tolerance<double>::fd_atol, tolerance<double>::fd_rtol, what);
}

}  // namespace juice::test
