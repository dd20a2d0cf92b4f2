// Helpers for the CPU tests: random tensors and finite-difference checks of L = sum(out .* R), of
// single primitives and of whole models.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "juice/core/batch.hpp"
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

// R for per-token outputs: uniform in [-1, 1) on the response tokens of `b`, 0 on prompts and padding.
inline token_values<double> random_weights(const sequence_batch& b, rng& g) {
  token_values<double> w = xt::zeros<double>({b.rows(), b.width()});
  for (std::size_t r = 0; r < b.rows(); ++r)
    for (auto t = b.prompt_length(r); t < b.length(r); ++t) w(r, static_cast<std::size_t>(t)) = 2 * g.uniform() - 1;
  return w;
}

// sum(v .* w) over a token table.
inline double weighted(const token_values<double>& v, const token_values<double>& w) {
  double s = 0;
  for (std::size_t i = 0; i < v.size(); ++i) s += v.data()[i] * w.data()[i];
  return s;
}

// Every parameter's gradient of `model` (as the last backward pass left it) against central
// differences of `loss` over that parameter's values; `what` names the check in messages.
template <class M>
void check_all_gradients(M& model, const std::function<double()>& loss, const std::string& what) {
  for (auto& p : model.parameters()) {
    const auto analytic = to_vector<double>(std::span<const double>(p.grad));
    const auto numeric = finite_difference<double>(p.value, tolerance<double>::fd_step, loss);
    check_close(analytic, numeric, tolerance<double>::fd_atol, tolerance<double>::fd_rtol, what + " " + p.name);
  }
}

}  // namespace juice::test
