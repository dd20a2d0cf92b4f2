// Checks of a device backend's deterministic replacements for scatters and sorts, against their
// serial references and juice::cpu. Shared by the thrust-omp test (juice::thrust_omp_backend, g++:
// test_thrust_omp_deterministic, every CI run) and the gpu test (juice::cuda, nvcc:
// test_cuda_deterministic, skipped without a device).
//   check_sort_rows_by_id: the merge sort that groups rows by token id (embedding.cuh) against
//       std::sort of the same keys, for row counts that are and are not powers of two.
//   check_embedding_grouped: embedding_backward (grouped by id, one call per id and channel)
//       against embedding_backward_serial and cpu::embedding_backward, bit for bit (the same
//       additions in the same order), on ids that repeat many times and on ids that barely repeat,
//       and bit for bit across two runs.
//   check_select_first_tokens, check_sampling_selection: the sampler's per-row selection
//       (sampling.cuh) against std::stable_sort, and sample_tokens with top_k and top_p against
//       juice::cpu's sampler, token for token; check_sampling_scratch: top_k's scratch is R k ints.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "device_checks.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/cuda/embedding.cuh"
#include "juice/backends/cuda/sampling.cuh"
#include "juice/core/sampling.hpp"

namespace juice::test::device {

inline const std::ptrdiff_t grouping_rows[] = {1, 2, 3, 64, 100, 1000, 1537};

template <class D>
void check_sort_rows_by_id(D& d) {
  namespace dk = juice::device_kernels;
  device_io<D> io{d};
  std::mt19937 g(51);
  for (const std::ptrdiff_t N : grouping_rows)
    for (const int V : {3, 50000}) {
      const auto ids = random_ids(static_cast<std::size_t>(N), V, g);
      std::vector<std::uint64_t> want(ids.size());
      for (std::size_t n = 0; n < ids.size(); ++n) want[n] = (std::uint64_t(ids[n]) << 32) | n;
      std::sort(want.begin(), want.end());
      auto bi = io.up(ids);
      auto a = d.template allocate<std::uint64_t>(ids.size());
      auto b = d.template allocate<std::uint64_t>(ids.size());
      const std::uint64_t* sorted = dk::sort_rows_by_id(d.exec(), d.data(std::as_const(bi)), N, d.data(a), d.data(b));
      std::vector<std::uint64_t> got(ids.size());
      d.download(sorted, got.data(), got.size());
      BOOST_TEST_INFO("N " << N << ", V " << V);
      BOOST_TEST(got == want, boost::test_tools::per_element());
    }
}

template <class T, class D>
void check_embedding_grouped(D& d) {
  namespace dk = juice::device_kernels;
  device_io<D> io{d};
  std::mt19937 g(52);
  const std::ptrdiff_t C = 19, P = 13;
  for (const std::ptrdiff_t N : grouping_rows)
    for (const int V : {3, 50000}) {
      const std::string tag = " (N " + std::to_string(N) + ", V " + std::to_string(V) + ", C 19)" + (sizeof(T) == 4 ? " <float>" : " <double>");
      const auto tok = random_ids(static_cast<std::size_t>(N), V, g), pos = random_ids(static_cast<std::size_t>(N), int(P), g);
      const auto dout = random_vector<T>(static_cast<std::size_t>(N * C), g);
      auto wte = random_vector<T>(static_cast<std::size_t>(V * C), g), wpe = random_vector<T>(static_cast<std::size_t>(P * C), g);
      auto bt = io.up(tok);
      auto bp = io.up(pos);
      auto bd = io.up(dout);
      auto w1 = io.up(wte);
      auto p1 = io.up(wpe);
      auto w2 = io.up(wte);
      auto p2 = io.up(wpe);
      auto w3 = io.up(wte);
      auto p3 = io.up(wpe);
      d.embedding_backward(d.data(w1), d.data(p1), d.data(std::as_const(bd)), d.data(std::as_const(bt)),
                           d.data(std::as_const(bp)), N, C);
      d.embedding_backward(d.data(w2), d.data(p2), d.data(std::as_const(bd)), d.data(std::as_const(bt)),
                           d.data(std::as_const(bp)), N, C);
      dk::embedding_backward_serial(d.exec(), d.data(w3), d.data(p3), d.data(std::as_const(bd)),
                                    d.data(std::as_const(bt)), d.data(std::as_const(bp)), N, C);
      cpu::embedding_backward<T>(wte.data(), wpe.data(), dout.data(), tok.data(), pos.data(), N, C);
      const auto gw = io.down(w1), gp = io.down(p1);
      compare(gw, io.down(w3), 0.0, 0.0, "embedding_backward dwte grouped vs serial" + tag);
      compare(gp, io.down(p3), 0.0, 0.0, "embedding_backward dwpe grouped vs serial" + tag);
      compare(gw, wte, 0.0, 0.0, "embedding_backward dwte grouped vs juice::cpu" + tag);
      compare(gp, wpe, 0.0, 0.0, "embedding_backward dwpe grouped vs juice::cpu" + tag);
      compare(io.down(w2), gw, 0.0, 0.0, "embedding_backward dwte run twice" + tag);
      compare(io.down(p2), gp, 0.0, 0.0, "embedding_backward dwpe run twice" + tag);
    }
}

}  // namespace juice::test::device

namespace juice::test::device {

// sample_tokens with top_k and top_p (per-row selection, no sort of the row) against juice::cpu's
// sampler on the same logits and uniforms, token for token: a wide row (V 5003) with logits
// rounded to quarters (many ties, broken by the lower id), a peaked row set (the nucleus within
// the first 64 tokens) and a flat one (the nucleus grows past 64, 128, ... toward V), both signs of
// zero among the logits, top_k from 1 to V - 1, and the two limits together.
template <class T, class D>
void check_sampling_selection(D& d) {
  device_io<D> io{d};
  std::mt19937 g(53);
  const std::ptrdiff_t R = 24, V = 5003;
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  for (const double spread : {6.0, 0.05}) {
    auto logits = random_vector<T>(static_cast<std::size_t>(R * V), g, spread);
    for (auto& x : logits) x = std::round(x * T(4)) / T(4);
    logits[3] = T(-0.0);
    logits[4] = T(0.0);
    std::vector<double> u(static_cast<std::size_t>(R));
    for (auto& x : u) x = ud(g);
    auto bl = io.up(logits);
    auto bu = io.up(u);
    auto bo = d.template allocate<int>(static_cast<std::size_t>(R));
    const std::vector<sampling_options> cases{{1.0, 1, 1.0}, {1.0, 40, 1.0}, {0.8, 64, 1.0}, {1.0, 65, 1.0}, {1.0, 5002, 1.0}, {1.0, 0, 0.9}, {0.7, 0, 0.5}, {1.0, 0, 0.999}, {1.3, 50, 0.6}, {1.0, 300, 0.95}, {2.0, 0, 1e-9}};
    for (const auto& o : cases) {
      std::vector<int> want(static_cast<std::size_t>(R));
      cpu::sample_tokens<T>(want.data(), logits.data(), u.data(), R, V, o);
      d.sample_tokens(d.data(bo), d.data(std::as_const(bl)), d.data(std::as_const(bu)), R, V, o);
      compare(io.down(bo), want, 0.0, 0.0,
              "sample_tokens (spread " + std::to_string(spread) + ", temperature " + std::to_string(o.temperature) +
                  ", top_k " + std::to_string(o.top_k) + ", top_p " + std::to_string(o.top_p) + ")" +
                  (sizeof(T) == 4 ? " <float>" : " <double>"));
    }
  }
}

// The selection itself: the first m tokens in the protocol's order (descending logit, ties by the
// lower id) against std::stable_sort of the ids, for every m on a row with many ties.
template <class T>
void check_select_first_tokens() {
  std::mt19937 g(54);
  const std::ptrdiff_t V = 97;
  auto row = random_vector<T>(static_cast<std::size_t>(V), g, 2.0);
  for (auto& x : row) x = std::round(x * T(2)) / T(2);
  row[5] = T(-0.0);  // equal to +0: ordered by id among the zeros
  row[6] = T(0.0);
  std::vector<int> order(static_cast<std::size_t>(V));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return row[std::size_t(a)] > row[std::size_t(b)]; });
  for (std::ptrdiff_t m = 1; m <= V; ++m) {
    std::vector<int> sel(static_cast<std::size_t>(m));
    juice::device_kernels::detail::select_first_tokens(row.data(), V, m, sel.data());
    BOOST_TEST_INFO("m " << m);
    BOOST_TEST(sel == std::vector<int>(order.begin(), order.begin() + m), boost::test_tools::per_element());
  }
}

// top_k's selection needs R * k ints of scratch, not R * V: on a fresh backend `d`, sampling with
// top_k 40 from (R 8, V 5003) allocates no more than that, and a second call nothing.
template <class D>
void check_sampling_scratch(D& d) {
  device_io<D> io{d};
  std::mt19937 g(55);
  const std::ptrdiff_t R = 8, V = 5003, k = 40;
  auto bl = io.up(random_vector<float>(static_cast<std::size_t>(R * V), g));
  auto bu = io.up(std::vector<double>(static_cast<std::size_t>(R), 0.5));
  auto bo = d.template allocate<int>(static_cast<std::size_t>(R));
  const sampling_options o{1.0, static_cast<std::size_t>(k), 1.0};
  d.reset_stats();
  d.sample_tokens(d.data(bo), d.data(std::as_const(bl)), d.data(std::as_const(bu)), R, V, o);
  const std::size_t bound = static_cast<std::size_t>(R * k) * sizeof(int) + sizeof(double);
  BOOST_TEST(d.stats().allocated_bytes <= bound, "top_k sampling allocated " << d.stats().allocated_bytes
                                                                             << " bytes of scratch; R k ints are " << bound);
  d.reset_stats();
  d.sample_tokens(d.data(bo), d.data(std::as_const(bl)), d.data(std::as_const(bu)), R, V, o);
  BOOST_TEST(d.stats().allocations == 0u);
}

}  // namespace juice::test::device
