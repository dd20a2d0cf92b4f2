// tests/gpu: the LM head's block-per-row CUDA kernels (lm_head.cuh: log_softmax_gather_block_rows,
// logits_to_dlogits_block_rows, which juice::cuda runs) against the portable one-thread-per-row
// functors (log_softmax_gather, logits_to_dlogits) run on the same device, on ragged V (1, 31,
// 50257: one element, less than a block, GPT-2's vocabulary), up to 64 rows of values with a large
// spread (standard deviations 1 to 1000, ties, ascending rows that raise the running maximum at every
// element, rows offset by 5000). nvcc only.
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

#if !defined(__CUDACC__)
#error "lm_head_block_checks.hpp tests CUDA kernels: compile it with nvcc"
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "device_checks.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "juice/backends/cuda/lm_head.cuh"

namespace juice::test::device {

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

// |got - want| / tol per element: compared with zeros at atol 1, the worst ratio of an error to its
// bound is printed and recorded.
template <class T>
std::vector<double> error_over_bound(const std::vector<T>& got, const std::vector<T>& want, const std::vector<double>& tol) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  std::vector<double> r(got.size());
  for (std::size_t i = 0; i < got.size(); ++i) r[i] = std::abs(double(got[i]) - double(want[i])) / tol[i];
  return r;
}

template <class T>
void check_lm_head_block_rows(cuda& d) {
  std::mt19937 g(2024);
  device_io<cuda> io{d};
  const std::string type = sizeof(T) == 4 ? " <float>" : " <double>";
  const std::vector<std::pair<std::size_t, std::size_t>> shapes{{1, 1}, {64, 1}, {5, 31}, {64, 31}, {3, 50257}, {64, 50257}};
  for (const auto& [M, V] : shapes) {
    const std::string shape = " (M=" + std::to_string(M) + ", V=" + std::to_string(V) + ")" + type;
    const auto x = spread_logits<T>(M, V, g);
    std::vector<int> target(M);
    std::uniform_int_distribution<int> pick(0, static_cast<int>(V) - 1);
    for (auto& t : target) t = pick(g);
    const auto bt = io.up(target);
    const auto dm = static_cast<device_kernels::index>(M), dv = static_cast<device_kernels::index>(V);

    // Forward: the functor, then the kernel twice (with and without logp).
    auto bf = io.up(x), bk = io.up(x), bk2 = io.up(x);
    auto bpf = d.allocate<T>(M), bpk = d.allocate<T>(M);
    device_kernels::log_softmax_gather(d.exec(), d.data(bf), d.data(bpf), d.data(bt), dm, dv);
    device_kernels::log_softmax_gather_block_rows(d.stream(), d.data(bk), d.data(bpk), d.data(bt), dm, dv);
    device_kernels::log_softmax_gather_block_rows(d.stream(), d.data(bk2), static_cast<T*>(nullptr), d.data(bt), dm, dv);
    const auto want = io.down(bf), got = io.down(bk), got2 = io.down(bk2), want_p = io.down(bpf), got_p = io.down(bpk);
    const auto tol = forward_tolerance(x, want, M, V);
    const std::vector<double> zeros(M * V);
    compare(error_over_bound(got, want, tol), zeros, 1.0, 0.0, "lm_head_block_rows log-softmax |diff|/bound" + shape);
    std::vector<double> tol_p(M);
    for (std::size_t r = 0; r < M; ++r) tol_p[r] = tol[r * V + static_cast<std::size_t>(target[r])];
    compare(error_over_bound(got_p, want_p, tol_p), std::vector<double>(M), 1.0, 0.0,
            "lm_head_block_rows logp |diff|/bound" + shape);
    BOOST_TEST(got2 == got, boost::test_tools::per_element());  // deterministic; logp null changes nothing else
    for (std::size_t r = 0; r < M; ++r)                         // logp is the row's entry at the target, as written
      BOOST_TEST(got_p[r] == got[r * V + static_cast<std::size_t>(target[r])]);

    // Backward from the same log-probabilities: bit for bit.
    std::vector<T> gw(M);
    std::normal_distribution<double> n01(0.0, 1.0);
    for (auto& w : gw) w = static_cast<T>(n01(g));
    const auto bg = io.up(gw);
    auto df = io.up(want), dk = io.up(want);
    device_kernels::logits_to_dlogits(d.exec(), d.data(df), d.data(bt), d.data(bg), dm, dv);
    device_kernels::logits_to_dlogits_block_rows(d.stream(), d.data(dk), d.data(bt), d.data(bg), dm, dv);
    const auto dwant = io.down(df), dgot = io.down(dk);
    compare(dgot, dwant, 0.0, 0.0, "lm_head_block_rows dlogits" + shape);
  }
}

}  // namespace juice::test::device
