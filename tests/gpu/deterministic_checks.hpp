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
#pragma once

#include <algorithm>
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
