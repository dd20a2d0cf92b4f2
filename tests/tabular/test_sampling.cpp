// Sampled and exact-expectation modes run through the same algorithm code: sampled estimates agree
// with the exact values within statistical error, and a seed gives bit-identical results.
#include <cmath>
#include <cstring>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "juice/experiments/one_state.hpp"
#include "juice/juice.hpp"
#include "juice_test.hpp"

using namespace juice;
using space = tabular::bandit_space;

BOOST_AUTO_TEST_CASE(sampled_reward_gradient_is_unbiased) {
  // One RFT reward step with zero learning rate leaves the gradient of the linear loss in the
  // reward model; over many seeds its mean matches the exact-mode gradient (4 standard errors).
  const space sp(2, 3);
  tabular::policy<double, space> ref(sp);
  rng init(3);
  for (auto& v : std::span(ref.parameters()[0].value)) v = init.uniform() - 0.5;
  const auto demos = test::bandit_rows({{0, 0}, {1, 2}, {0, 1}, {1, 1}});
  rft_options o;
  o.iterations = 1;
  o.policy_steps = 0;
  o.beta = 0.5;
  tabular::exact_policy_step step;
  auto gradient = [&](auto mode, std::uint64_t seed) {
    sgd opt(sgd_hyper{0.0});  // one per run: it holds on to the models it stepped
    auto pi = ref.snapshot();
    tabular::reward<double, space> r(sp);
    r.table() << 0.2, -0.1, 0.4, 0.0, 0.3, -0.5;
    o.seed = seed;
    rft_linear(o).run(pi, ref, r, demos, opt, step, mode);
    return test::to_vector<double>(r.parameters()[0].grad);
  };
  const auto exact_grad = gradient(exact{}, 0);
  test::check_unbiased(
      exact_grad, 400, [&](std::size_t k) { return gradient(sampled{2}, 1000 + k); }, "RFT reward gradient");
}

BOOST_AUTO_TEST_CASE(sampled_irft_round_start_gradient_is_unbiased) {
  // IRFT's first update with learning rate 0: the gradient left in the policy, averaged over seeds,
  // matches exact mode.
  const space sp(1, 4);
  tabular::policy<double, space> init(sp);
  rng g0(8);
  for (auto& v : std::span(init.parameters()[0].value)) v = g0.uniform() - 0.5;
  const auto demos = test::bandit_rows({{0, 0}, {0, 2}, {0, 0}});
  irft_options o;
  o.rounds = 1;
  o.steps_per_round = 1;
  o.chunk_rounds = false;
  o.beta = 0.3;
  auto gradient = [&](auto mode, std::uint64_t seed) {
    sgd opt(sgd_hyper{0.0});  // one per run: it holds on to the models it stepped
    auto pi = init.snapshot();
    o.seed = seed;
    irft(o).run(pi, demos, opt, mode);
    return test::to_vector<double>(pi.parameters()[0].grad);
  };
  const auto exact_grad = gradient(exact{}, 0);
  test::check_unbiased(
      exact_grad, 400, [&](std::size_t k) { return gradient(sampled{1}, 77 + k); }, "IRFT round-start gradient");
}

BOOST_AUTO_TEST_CASE(sampled_rft_ends_near_the_exact_optimum) {
  // Sampled RFT (linear reward loss, L2 weight lambda = 1, exact policy step) on the one-state example
  // with the Robbins-Monro step eta_t = 1/(t + 2). The regularised objective is 1-strongly concave in
  // the reward, so with this step the final iterate's error is O(1/sqrt(t)) and its bias O(1/t): a
  // constant step would leave an O(eta) bias that no number of seeds averages away. Over 64 seeds
  // the mean final pi(a1) is within 4 standard errors of the closed form 1 - 2u (juice_test.hpp),
  // and so is each seed within a distance the step size explains.
  const double target = 1 - 2 * test::one_state_u();
  const space sp(1, 3);
  const std::vector<double> uniform{1.0 / 3, 1.0 / 3, 1.0 / 3};
  const auto ref = tabular::policy<double, space>::from_probabilities(sp, uniform);
  const auto demos = test::bandit_rows(std::vector<std::pair<int, int>>(10, {0, 0}));
  rft_options o;
  o.beta = 1;
  o.l2 = 1;
  o.iterations = 2000;
  const int seeds = 64;
  double mean = 0, sq = 0;
  for (int s = 0; s < seeds; ++s) {
    auto pi = ref.snapshot();
    tabular::reward<double, space> r(sp);
    sgd opt(sgd_hyper{1.0, 0.0});
    opt.schedule([](std::size_t t) { return 1.0 / (static_cast<double>(t) + 2); });
    tabular::exact_policy_step step;
    o.seed = static_cast<std::uint64_t>(s);
    rft_linear(o).run(pi, ref, r, demos, opt, step, sampled{4});
    const double p = pi.probabilities(0)[0];
    BOOST_TEST(std::abs(p - target) < 0.05, "seed " << s << ": pi(a1) " << p << " vs " << target);
    mean += p / seeds;
    sq += p * p / seeds;
  }
  const double se = std::sqrt(std::max(sq - mean * mean, 0.0) / (seeds - 1));
  BOOST_TEST_MESSAGE("sampled RFT pi(a1): mean " << mean << " se " << se << " exact " << target);
  BOOST_TEST(se > 0.0);
  BOOST_TEST(std::abs(mean - target) <= 4 * se, "mean " << mean << " vs " << target << " (se " << se << ")");
}

BOOST_AUTO_TEST_CASE(same_seed_gives_bit_identical_results) {
  experiments::one_state_options o;
  o.exact = false;
  o.seed = 12345;
  const auto a = experiments::run_one_state(o), b = experiments::run_one_state(o);
  for (std::size_t m = 0; m < a.size(); ++m)
    BOOST_CHECK_MESSAGE(std::memcmp(a[m].pi.data(), b[m].pi.data(), a[m].pi.size() * sizeof(double)) == 0, a[m].method);
  o.seed = 54321;
  const auto c = experiments::run_one_state(o);
  BOOST_CHECK(a[3].pi != c[3].pi);  // IRFT samples y~
  BOOST_CHECK(a[2].pi != c[2].pi);  // RFT samples y~
}
