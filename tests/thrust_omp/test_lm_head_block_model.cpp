// The arithmetic of juice::cuda's block-per-row LM-head forward pass (lm_head.cuh:
// log_softmax_gather_block_rows), run on the host: each of a block's lm_head_block threads takes its
// part of the row with row_part, the parts are combined with combine_max_sum in the order CUB's
// default block reduction uses (a shuffle-down tree in each 32-thread warp, offsets 16, 8, 4, 2, 1,
// then thread 0 folds the warps' results in order) and in a plain left fold, and lse_of gives the
// row's lse. The output x - lse must agree with the portable functor (log_softmax_gather_fn, the
// reference juice::cuda's OpenMP system runs) within the float-rounding bound derived in
// tests/support/lm_head_block_bound.hpp, on the rows the GPU test uses (spreads 1 to 1000, ties, a
// maximum that grows at every element, an offset of 5000) and ragged V (1, 31: most threads empty;
// 50257). This checks the kernel's arithmetic, not its CUDA mechanics (shared memory, the launch),
// which tests/gpu/lm_head_block_checks.hpp checks on a GPU.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "juice/backends/cuda/lm_head.cuh"
#include "lm_head_block_bound.hpp"

namespace {

namespace dk = juice::device_kernels;
using idx = dk::index;  // not `index`: POSIX strings.h declares a function of that name

enum class order { cub_warps,
                   left_fold };

// The (max, sum) of a row from its lm_head_block parts, combined in `o`.
template <class T>
dk::max_sum<T> whole_row(const T* row, idx V, order o) {
  constexpr idx threads = dk::lm_head_block, warp = 32;
  std::vector<dk::max_sum<T>> part(threads);
  for (idx t = 0; t < threads; ++t) part[static_cast<std::size_t>(t)] = dk::row_part(row, V, t, threads);
  const dk::combine_max_sum<T> combine;
  if (o == order::left_fold) {
    dk::max_sum<T> acc = part[0];
    for (std::size_t t = 1; t < part.size(); ++t) acc = combine(acc, part[t]);
    return acc;
  }
  // In each warp, lane l takes lane l + offset's value for offset 16, 8, 4, 2, 1 (lanes past the
  // warp keep their own); lane 0 ends with the warp's. Then the warps' results, in order.
  for (idx w = 0; w < threads / warp; ++w) {
    auto* lanes = part.data() + w * warp;
    for (idx offset = warp / 2; offset > 0; offset /= 2) {
      const std::vector<dk::max_sum<T>> before(lanes, lanes + warp);
      for (idx l = 0; l + offset < warp; ++l) lanes[l] = combine(before[static_cast<std::size_t>(l)], before[static_cast<std::size_t>(l + offset)]);
    }
  }
  dk::max_sum<T> acc = part[0];
  for (idx w = 1; w < threads / warp; ++w) acc = combine(acc, part[static_cast<std::size_t>(w * warp)]);
  return acc;
}

template <class T>
void check_block_model(order o) {
  std::mt19937 g(2024);
  const std::string name = std::string(sizeof(T) == 4 ? "float" : "double") + (o == order::cub_warps ? ", CUB's order" : ", left fold");
  const std::vector<std::pair<std::size_t, std::size_t>> shapes{{1, 1}, {12, 1}, {12, 31}, {12, 50257}};
  for (const auto& [M, V] : shapes) {
    const auto x = juice::test::spread_logits<T>(M, V, g);
    std::vector<int> target(M);
    std::uniform_int_distribution<int> pick(0, static_cast<int>(V) - 1);
    for (auto& t : target) t = pick(g);
    // The reference: the portable functor, row by row.
    std::vector<T> want = x, want_p(M);
    const dk::log_softmax_gather_fn<T> functor{want.data(), want_p.data(), target.data(), static_cast<idx>(V)};
    for (std::size_t r = 0; r < M; ++r) functor(static_cast<idx>(r));
    const auto tol = juice::test::forward_tolerance(x, want, M, V);
    double worst = 0;  // the largest |diff| / bound, and where
    std::size_t at = 0;
    T got_at = 0;
    for (std::size_t r = 0; r < M; ++r) {
      const T lse = dk::lse_of(whole_row(x.data() + r * V, static_cast<idx>(V), o));
      for (std::size_t v = 0; v < V; ++v) {
        const T got = x[r * V + v] - lse;
        const double ratio = std::abs(static_cast<double>(got) - static_cast<double>(want[r * V + v])) / tol[r * V + v];
        if (!std::isnan(worst) && (std::isnan(ratio) || ratio > worst)) {  // a NaN is the worst
          worst = ratio;
          at = r * V + v;
          got_at = got;
        }
      }
    }
    BOOST_TEST(worst <= 1.0, name << " M=" << M << " V=" << V << ": row " << at / V << ", element " << at % V << ": " << got_at
                                  << " against the functor's " << want[at] << ", " << worst << " times the bound " << tol[at]);
    BOOST_TEST_MESSAGE(name << " M=" << M << " V=" << V << ": worst |diff| / bound " << worst);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(block_model_float_cub_order) { check_block_model<float>(order::cub_warps); }
BOOST_AUTO_TEST_CASE(block_model_float_left_fold) { check_block_model<float>(order::left_fold); }
BOOST_AUTO_TEST_CASE(block_model_double_cub_order) { check_block_model<double>(order::cub_warps); }
BOOST_AUTO_TEST_CASE(block_model_double_left_fold) { check_block_model<double>(order::left_fold); }

// Each part's maximum and sum, against the part computed directly (max first, then the sum of
// exp(x - max) in double): the online rescaling loses nothing but rounding. A row whose maximum
// grows at every element (each thread's part rescales at each of its elements) and one that falls.
BOOST_AUTO_TEST_CASE(row_part_equals_two_pass_part) {
  constexpr std::size_t V = 1000;
  for (const double slope : {0.05, -0.05}) {
    std::vector<float> row(V);
    for (std::size_t v = 0; v < V; ++v) row[v] = static_cast<float>(slope * static_cast<double>(v));
    for (idx t : {idx{0}, idx{7}, idx{255}}) {
      const auto part = dk::row_part(row.data(), static_cast<idx>(V), t, idx{dk::lm_head_block});
      float m = row[static_cast<std::size_t>(t)];
      for (auto v = static_cast<std::size_t>(t); v < V; v += dk::lm_head_block) m = std::max(m, row[v]);
      double s = 0;
      for (auto v = static_cast<std::size_t>(t); v < V; v += dk::lm_head_block) s += std::exp(static_cast<double>(row[v]) - static_cast<double>(m));
      BOOST_TEST(part.max == m);
      BOOST_TEST(part.sum == s, boost::test_tools::tolerance(1e-14));
    }
  }
}
