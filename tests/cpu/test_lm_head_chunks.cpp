// transformer::set_max_logit_rows on juice::cpu: with the LM head's logits bounded to R rows (run
// chunk by chunk forward, recomputed chunk by chunk in backward) the log-probs, the values and
// every gradient are those of the unbounded model; the scratch really holds min(M, R) rows of V;
// the bound is a runtime setting that travels with snapshot() and a move.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice_test.hpp"
#include "model_support.hpp"

namespace {

using scalar_types = boost::mpl::list<float, double>;

// Chunked against unbounded: the same arithmetic on each row, except that the head's weight
// gradient is summed chunk by chunk and a GEMM over fewer rows may block differently. Relative
// per element, plus an absolute floor relative to the largest element (a summation-order error is
// bounded by eps times the sum of |terms|, not by the |sum| of an element that cancels).
template <class T> struct chunk_tolerance;
template <> struct chunk_tolerance<double> {
  static constexpr double rtol = 1e-12;
};
template <> struct chunk_tolerance<float> {
  static constexpr double rtol = 1e-5;
};

// M = 4 + 2 + 1 = 7 scored positions: not a multiple of 3.
const juice::sequence_batch& batch() {
  static const auto b = juice::test::make_batch({{{1, 2, 3}, {4, 5, 6, 7}}, {{8}, {9, 10}}, {{2, 2}, {3}}});
  return b;
}
constexpr std::size_t scored = 7;

template <class T>
juice::token_values<T> weights(const juice::sequence_batch& b, double scale, double shift) {
  juice::token_values<T> w = xt::zeros<T>({b.rows(), b.width()});
  for (std::size_t r = 0; r < b.rows(); ++r)
    for (auto t = b.prompt_length(r); t < b.length(r); ++t)
      w(r, static_cast<std::size_t>(t)) = static_cast<T>(scale * std::sin(shift + 1.7 * static_cast<double>(r) + 0.3 * t));
  return w;
}

template <class T>
std::vector<double> flat(const juice::token_values<T>& x) {
  return std::vector<double>(x.begin(), x.end());
}

template <class T>
std::vector<double> grads(juice::transformer<juice::cpu, T>& m) {
  auto g = m.parameter_block().grad;
  return std::vector<double>(g.begin(), g.end());
}

struct outcome {
  std::vector<double> logp, values, grad;
};

// One forward and one backward (log-prob weights, value weights, or both) of a fresh model.
template <class T>
outcome run(const juice::transformer_config& cfg, std::size_t bound, bool logp_w, bool value_w) {
  juice::transformer<juice::cpu, T> m(cfg, 5);
  m.set_max_logit_rows(bound);
  m.zero_grad();
  const auto [lp, v] = m.logprobs_and_values(batch());
  BOOST_TEST(m.logit_rows_held() == (bound == 0 ? scored : std::min(bound, scored)));
  const auto wl = weights<T>(batch(), 0.8, 0.0), wv = weights<T>(batch(), 0.5, 1.0);
  m.backward(batch(), logp_w ? &wl : nullptr, value_w ? &wv : nullptr);
  return {flat(lp), flat(v), grads(m)};
}

void compare(const std::vector<double>& got, const std::vector<double>& want, double rtol, const std::string& what) {
  double scale = 0;
  for (double x : want) scale = std::max(scale, std::abs(x));
  juice::test::check_close(got, want, rtol * scale, rtol, what);
}

template <class T>
void check_bounds(const juice::transformer_config& cfg, const std::string& name) {
  for (const auto& [logp_w, value_w] : {std::pair{true, true}, std::pair{true, false}, std::pair{false, true}}) {
    const outcome want = run<T>(cfg, 0, logp_w, value_w);
    // R = 1 and 3 chunk (3 leaves a partial chunk of 1); R = 7 = M and R = 100 > M do not.
    for (const std::size_t R : {std::size_t{1}, std::size_t{3}, scored, std::size_t{100}}) {
      const outcome got = run<T>(cfg, R, logp_w, value_w);
      const std::string what = name + " R=" + std::to_string(R) + (logp_w ? " logp-weights" : "") + (value_w ? " value-weights" : "");
      if (R >= scored) {
        // Not chunked: the very same calls, so the very same numbers.
        BOOST_TEST(got.logp == want.logp, what << ": log-probs");
        BOOST_TEST(got.values == want.values, what << ": values");
        BOOST_TEST(got.grad == want.grad, what << ": gradients");
      } else {
        compare(got.logp, want.logp, chunk_tolerance<T>::rtol, what + ": log-probs");
        compare(got.values, want.values, chunk_tolerance<T>::rtol, what + ": values");
        compare(got.grad, want.grad, chunk_tolerance<T>::rtol, what + ": gradients");
      }
    }
  }
}

juice::transformer_config untied_config() {
  auto c = juice::test::tiny_config();
  c.tied_head = false;
  return c;
}

}  // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(bounded_logits_give_the_unbounded_logprobs_values_and_gradients, T, scalar_types) {
  check_bounds<T>(juice::test::tiny_config(), "tied head");
  check_bounds<T>(untied_config(), "untied head");
}

BOOST_AUTO_TEST_CASE(the_default_is_unbounded) {
  juice::transformer<juice::cpu, double> m(juice::test::tiny_config(), 5);
  BOOST_TEST(m.max_logit_rows() == 0u);
  BOOST_TEST(m.logit_rows_held() == 0u);
  (void)m.logprobs(batch());
  BOOST_TEST(m.logit_rows_held() == scored);
}

// The scratch is (min(M, R), V): R V elements, not M V, and a larger buffer left by an unbounded
// call is released by the next bounded one.
BOOST_AUTO_TEST_CASE(the_scratch_holds_at_most_the_bound) {
  juice::transformer<juice::cpu, double> m(juice::test::tiny_config(), 5);
  (void)m.logprobs(batch());
  BOOST_TEST(m.logit_rows_held() == scored);
  m.set_max_logit_rows(3);
  (void)m.logprobs(batch());
  BOOST_TEST(m.logit_rows_held() == 3u);
  // A batch with fewer scored rows than the bound needs fewer rows; a later larger batch grows
  // back up to the bound only.
  const auto one = juice::test::make_batch({{{1, 2}, {3}}});
  (void)m.logprobs(one);
  BOOST_TEST(m.logit_rows_held() <= 3u);
  (void)m.logprobs(batch());
  BOOST_TEST(m.logit_rows_held() == 3u);
}

// The bound is the model's runtime setting: a snapshot and a moved-to model keep it.
BOOST_AUTO_TEST_CASE(the_bound_survives_snapshot_and_move) {
  juice::transformer<juice::cpu, double> m(juice::test::tiny_config(), 5);
  m.set_max_logit_rows(2);
  auto s = m.snapshot();
  BOOST_TEST(s.max_logit_rows() == 2u);
  (void)s.logprobs(batch());
  BOOST_TEST(s.logit_rows_held() == 2u);
  auto moved = std::move(s);
  BOOST_TEST(moved.max_logit_rows() == 2u);
  (void)moved.logprobs(batch());
  BOOST_TEST(moved.logit_rows_held() == 2u);
}

// backward() follows the setting its logprobs() ran with: changing the bound in between (either
// way) still gives the unbounded gradients.
BOOST_AUTO_TEST_CASE(changing_the_bound_between_logprobs_and_backward) {
  const auto wl = weights<double>(batch(), 0.8, 0.0);
  juice::transformer<juice::cpu, double> ref(juice::test::tiny_config(), 5);
  (void)ref.logprobs(batch());
  ref.backward(batch(), wl);
  for (const auto& [before, after] : {std::pair<std::size_t, std::size_t>{0, 2}, std::pair<std::size_t, std::size_t>{2, 0}}) {
    juice::transformer<juice::cpu, double> m(juice::test::tiny_config(), 5);
    m.set_max_logit_rows(before);
    (void)m.logprobs(batch());
    m.set_max_logit_rows(after);
    m.backward(batch(), wl);
    compare(grads(m), grads(ref), chunk_tolerance<double>::rtol,
            "bound " + std::to_string(before) + " then " + std::to_string(after));
  }
}
