// transformer::set_max_logit_rows on the CUDA backend's portable device code (Thrust's OpenMP
// system): the bounded model's log-probs, values and gradients against the unbounded one on the same
// backend and against juice::cpu, and the device memory it allocates (juice::device_stats): the
// logits scratch is R V elements, not M V, and later steps allocate nothing.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "device_model_checks.hpp"
#include "juice/backends/cuda/thrust_omp.hpp"

namespace {

namespace dev = juice::test::device;
using omp_model = juice::thrust_omp_backend;

// ragged_model_batch(): 4 + 2 + 1 + 0 = 7 scored positions.
constexpr std::size_t scored = 7;

// Chunked against unbounded on the same backend: only the head's weight gradient's summation order
// and the GEMMs' blocking over fewer rows differ (relative, with a floor relative to the largest
// element, as in tests/cpu/test_lm_head_chunks.cpp).
template <class T> constexpr double chunk_rtol = sizeof(T) == 4 ? 1e-5 : 1e-12;

template <class T>
void compare_scaled(const std::vector<T>& got, const std::vector<T>& want, double rtol, const std::string& what) {
  double scale = 0;
  for (T x : want) scale = std::max(scale, std::abs(static_cast<double>(x)));
  dev::compare(got, want, rtol * scale, rtol, what + (sizeof(T) == 4 ? " <float>" : " <double>"));
}

// One forward and backward (both heads' weights) of a fresh model: log-probs, values, gradients.
template <class T, class Model>
std::vector<std::vector<T>> step(Model& m) {
  const auto batch = dev::ragged_model_batch();
  m.zero_grad();
  const auto [lp, v] = m.logprobs_and_values(batch);
  const auto wl = dev::model_weights<T>(batch, 1.0), wv = dev::model_weights<T>(batch, -0.5);
  m.backward(batch, &wl, &wv);
  return {dev::elements<T>(lp), dev::elements<T>(v), dev::grads_of<T>(m)};
}

}  // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(bounded_logits_match_unbounded_and_cpu, T, dev::float_types) {
  const auto cfg = juice::test::tiny_config();
  juice::transformer<juice::cpu, T> cpu_model(cfg, 7);
  const auto want_cpu = step<T>(cpu_model);
  juice::transformer<omp_model, T> unbounded(omp_model{}, cfg, 7);
  const auto want = step<T>(unbounded);
  BOOST_TEST(unbounded.logit_rows_held() == scored);
  const char* names[] = {"log-probs", "values", "gradients"};
  for (const std::size_t R : {std::size_t{1}, std::size_t{3}}) {
    juice::transformer<omp_model, T> m(omp_model{}, cfg, 7);
    m.set_max_logit_rows(R);
    const auto got = step<T>(m);
    BOOST_TEST(m.logit_rows_held() == R);
    for (std::size_t k = 0; k < 3; ++k) {
      const std::string what = std::string("R=") + std::to_string(R) + " " + names[k];
      compare_scaled(got[k], want[k], chunk_rtol<T>, what + " vs unbounded");
      dev::model_compare(got[k], want_cpu[k], what + " vs cpu");
    }
  }
}

// The device memory of the first step: the bounded model allocates exactly (M - R) V elements
// fewer than the unbounded one (its logits scratch is (R,V), not (M,V)); later steps of either
// allocate nothing, the recomputation included.
BOOST_AUTO_TEST_CASE(the_bound_shrinks_the_device_allocation_by_the_unheld_rows) {
  const auto cfg = juice::test::tiny_config();
  const auto first_step_bytes = [&](std::size_t bound) {
    omp_model d;
    juice::transformer<omp_model, float> m(d, cfg, 7);
    m.set_max_logit_rows(bound);
    d.reset_stats();
    (void)step<float>(m);
    const std::size_t bytes = d.stats().allocated_bytes;
    d.reset_stats();
    for (int k = 0; k < 2; ++k) (void)step<float>(m);
    BOOST_TEST(d.stats().allocations == 0u, "bound " << bound << ": steps after the first allocate");
    return bytes;
  };
  const std::size_t unbounded = first_step_bytes(0), bounded = first_step_bytes(2);
  BOOST_TEST(unbounded - bounded == (scored - 2) * cfg.vocab * sizeof(float));
}
