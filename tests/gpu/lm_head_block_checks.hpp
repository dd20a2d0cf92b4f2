// tests/gpu: the LM head's block-per-row CUDA kernels (lm_head.cuh: log_softmax_gather_block_rows,
// logits_to_dlogits_block_rows, which juice::cuda runs) against the portable one-thread-per-row
// functors (log_softmax_gather, logits_to_dlogits) run on the same device, on ragged V (1, 31,
// 50257: one element, less than a block, GPT-2's vocabulary), up to 64 rows of values with a large
// spread (standard deviations 1 to 1000, ties, ascending rows that raise the running maximum at every
// element, rows offset by 5000). nvcc only.
//
// The forward bound and the test rows: tests/support/lm_head_block_bound.hpp (shared with the
// OpenMP model of the kernel, tests/thrust_omp/test_lm_head_block_model.cpp).
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
#include "lm_head_block_bound.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "juice/backends/cuda/lm_head.cuh"

namespace juice::test::device {

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
