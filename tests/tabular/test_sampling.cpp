// Sampled and exact-expectation modes run through the same algorithm code: sampled estimates agree
// with the exact values within statistical error, and a seed gives bit-identical results.
#define BOOST_TEST_MODULE sampling
#include <cmath>
#include <cstring>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "juice/experiments/one_state.hpp"
#include "juice/juice.hpp"
#include "juice_test.hpp"

using namespace juice;
using space = tabular::bandit_space;

namespace {
// Over 400 seeds, the mean of the sampled estimate is within 4 standard errors of the exact value,
// entry by entry.
template <class Estimate>
void check_unbiased(const std::vector<double>& exact_value, Estimate&& estimate, std::uint64_t first_seed) {
  const std::size_t seeds = 400, P = exact_value.size();
  std::vector<double> mean(P, 0), sq(P, 0);
  for (std::size_t s = 0; s < seeds; ++s) {
    const auto g = estimate(first_seed + s);
    for (std::size_t i = 0; i < P; ++i) {
      mean[i] += g[i] / seeds;
      sq[i] += g[i] * g[i] / seeds;
    }
  }
  for (std::size_t i = 0; i < P; ++i) {
    const double se = std::sqrt(std::max(sq[i] - mean[i] * mean[i], 0.0) / seeds);
    BOOST_CHECK_MESSAGE(std::abs(mean[i] - exact_value[i]) <= 4 * se + 1e-12,
                        "entry " << i << ": sampled mean " << mean[i] << " vs exact " << exact_value[i] << " (se " << se << ")");
  }
}
}  // namespace

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
  sgd opt(sgd_hyper{0.0});

  auto gradient = [&](auto mode, std::uint64_t seed) {
    auto pi = ref.snapshot();
    tabular::reward<double, space> r(sp);
    r.table() << 0.2, -0.1, 0.4, 0.0, 0.3, -0.5;
    o.seed = seed;
    rft_linear(o).run(pi, ref, r, demos, opt, step, mode);
    return test::to_vector<double>(r.parameters()[0].grad);
  };
  const auto exact_grad = gradient(exact{}, 0);
  check_unbiased(exact_grad, [&](std::uint64_t seed) { return gradient(sampled{2}, seed); }, 1000);
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
  sgd opt(sgd_hyper{0.0});
  auto gradient = [&](auto mode, std::uint64_t seed) {
    auto pi = init.snapshot();
    o.seed = seed;
    irft(o).run(pi, demos, opt, mode);
    return test::to_vector<double>(pi.parameters()[0].grad);
  };
  const auto exact_grad = gradient(exact{}, 0);
  check_unbiased(exact_grad, [&](std::uint64_t seed) { return gradient(sampled{1}, seed); }, 77);
}

BOOST_AUTO_TEST_CASE(sampled_rft_ends_near_the_exact_optimum) {
  // Sampled RFT with a decaying step: over several seeds the final pi(a1) scatters around the
  // exact result; the mean is within 4 standard errors of it.
  experiments::one_state_options o;
  o.methods = {"IRL-optimum"};
  const double target = experiments::run_one_state(o)[0].pi[0];
  o.methods = {"RFT"};
  o.exact = false;
  o.samples = 4;
  o.rft_lr = 0.05;
  o.rft_iterations = 600;
  const int seeds = 8;
  double mean = 0, sq = 0;
  for (int s = 0; s < seeds; ++s) {
    o.seed = static_cast<std::uint64_t>(s);
    const double p = experiments::run_one_state(o)[0].pi[0];
    mean += p / seeds;
    sq += p * p / seeds;
  }
  const double se = std::sqrt(std::max(sq - mean * mean, 1e-16) / (seeds - 1));
  BOOST_TEST_MESSAGE("sampled RFT pi(a1): mean " << mean << " se " << se << " exact " << target);
  BOOST_CHECK_LE(std::abs(mean - target), 4 * se);
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
