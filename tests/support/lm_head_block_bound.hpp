// tests/support: the bound within which the LM head's block-per-row forward pass (lm_head.cuh:
// row_part, combine_max_sum, lse_of, as log_softmax_gather_block_rows runs them) agrees with the
// portable one-thread-per-row functor (log_softmax_gather), and rows of logits that test it. Used by
// the GPU test of the kernels (tests/gpu/lm_head_block_checks.hpp) and by the OpenMP model of the
// kernel's arithmetic (tests/thrust_omp/test_lm_head_block_model.cpp).
//
// The forward bound. Let u be T's unit roundoff (2^-24 float, 2^-53 double), for a row m = max_v x_v,
// S = sum_v exp(x_v - m), p_v = exp(x_v - m) / S and D = sum_v p_v (m - x_v).
//   - The functor's terms are exp(fl(x_v - m)), the difference rounded in T: off by at most
//     u (m - x_v), so each term within a factor exp(+-u (m - x_v)) and the sum within u D relative
//     (to first order). The kernel's differences are taken in double (exact for floats), its terms
//     and rescalings rounded in double. Both sums add V positive double terms in some order, each
//     exp within a double ulp, the kernel's rescalings at most V/256 + 8 more roundings per term:
//     within 2 V 2^-53 relative of the exact sum. So |log S_kernel - log S_functor| <= u D + 4 V 2^-53.
//   - lse = m + (T) log(S) rounds twice on each side: within u |log S| + u |lse| of m + log S.
//   - out_v = x_v - lse rounds once on each side: within u |out_v|.
// So |out_kernel - out_functor| <= u D + 2u (|log S| + |lse| + |out_v|) + 4 V 2^-53 to first order;
// allowed, with a factor 2 on the rounding terms for the second-order ones:
//   tol_v = 2u (D + 2 |log S| + 2 |lse| + 2 |out_v|) + 4 V 2^-53,
// D, log S and lse computed in double from the row. logp is the target's out_v.
// The backward pass is the functor's arithmetic element by element (-g exp(logp), then + g at the
// target, the same two roundings), so the kernel equals the functor bit for bit. The kernel's
// reduction order is fixed, so two runs agree bit for bit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

namespace juice::test {

// Row r of an (M, V) block of logits: a kind of spread chosen by r.
template <class T>
std::vector<T> spread_logits(std::size_t M, std::size_t V, std::mt19937& g) {
  std::normal_distribution<double> n01(0.0, 1.0);
  std::vector<T> x(M * V);
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t v = 0; v < V; ++v) {
      double value = 0;
      switch (r % 6) {
        case 0:
          value = n01(g);
          break;
        case 1:
          value = 30 * n01(g);
          break;
        case 2:
          value = 1000 * n01(g);
          break;  // nearly every exp(x - max) underflows to 0
        case 3:
          value = 7.25;
          break;  // all tied at the maximum
        case 4:
          value = -20 + 40 * double(v) / double(V);
          break;  // ascending: the maximum grows at every element
        default:
          value = 5000 + 3 * n01(g);
          break;  // |lse| large against the spread
      }
      x[r * V + v] = static_cast<T>(value);
    }
  return x;
}

// tol_v for every element of the forward output (the bound derived above).
template <class T>
std::vector<double> forward_tolerance(const std::vector<T>& x, const std::vector<T>& out, std::size_t M, std::size_t V) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  const double sums = 4.0 * double(V) * std::ldexp(1.0, -53);
  std::vector<double> tol(M * V);
  for (std::size_t r = 0; r < M; ++r) {
    const T* row = x.data() + r * V;
    const double m = double(*std::max_element(row, row + V));
    double S = 0, weighted = 0;
    for (std::size_t v = 0; v < V; ++v) {
      const double e = std::exp(double(row[v]) - m);
      S += e;
      weighted += e * (m - double(row[v]));
    }
    const double D = weighted / S, logS = std::log(S), lse = m + logS;
    for (std::size_t v = 0; v < V; ++v)
      tol[r * V + v] = 2 * u * (D + 2 * std::abs(logS) + 2 * std::abs(lse) + 2 * std::abs(double(out[r * V + v]))) + sums;
  }
  return tol;
}

}  // namespace juice::test
