// backends/tabular: the softmax policy, the tabular and linear rewards, exact policy steps and the
// projection of sequence distributions onto per-state logits, against closed forms.
#include <cmath>
#include <numeric>

#include <boost/test/unit_test.hpp>

#include "juice/backends/tabular/tabular.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice_test.hpp"

using namespace juice;
using space = tabular::bandit_space;
using scalars = std::tuple<float, double>;
using dpolicy = tabular::policy<double, space>;

BOOST_AUTO_TEST_CASE_TEMPLATE(policy_logprobs_are_log_softmax, S, scalars) {
  tabular::policy<S, space> pi(space(2, 3));
  auto L = pi.logits();
  L(0, 0) = 1;
  L(0, 1) = 2;
  L(0, 2) = 3;
  L(1, 0) = -1;
  L(1, 1) = 0;
  L(1, 2) = 0.5;
  const auto batch = test::bandit_rows({{0, 2}, {1, 0}});
  const auto lp = pi.logprobs(batch);
  const double z0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double z1 = std::log(std::exp(-1.0) + 1 + std::exp(0.5));
  BOOST_CHECK_CLOSE(static_cast<double>(lp(0, 1)), 3 - z0, 1e-4);
  BOOST_CHECK_CLOSE(static_cast<double>(lp(1, 1)), -1 - z1, 1e-4);
  BOOST_CHECK_EQUAL(lp(0, 0), S(0));  // prompt positions carry no log-prob
  const auto p = pi.probabilities(1);
  BOOST_CHECK_CLOSE(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-10);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(policy_backward_matches_finite_differences, S, scalars) {
  tabular::policy<S, space> pi(space(2, 3));
  rng g(1);
  for (auto& v : std::span(pi.parameters()[0].value)) v = static_cast<S>(g.uniform());
  const auto batch = test::bandit_rows({{0, 2}, {1, 0}, {0, 1}});
  token_values<S> w = xt::zeros<S>({3, 2});
  w(0, 1) = S(0.7);
  w(1, 1) = S(-1.3);
  w(2, 1) = S(0.4);
  auto f = [&] {
    const auto lp = pi.logprobs(batch);
    double s = 0;
    for (std::size_t b = 0; b < 3; ++b) s += static_cast<double>(w(b, 1)) * static_cast<double>(lp(b, 1));
    return s;
  };
  pi.zero_grad();
  pi.backward(batch, w);
  const auto grad = test::to_vector<S>(pi.parameters()[0].grad);
  const auto fd = test::finite_difference<S>(pi.parameters()[0].value, test::tolerance<S>::fd_step, f);
  test::check_close(grad, fd, test::tolerance<S>::fd_atol, test::tolerance<S>::fd_rtol, "policy gradient");
}

BOOST_AUTO_TEST_CASE(enumerate_lists_every_response_with_its_probability) {
  const std::vector<double> p{0.2, 0.5, 0.3};
  const auto pi = tabular::policy<double, space>::from_probabilities(space(2, 3), p);
  auto prompts = prompts_of(test::bandit_rows({{1, 0}, {0, 0}}));
  prompts.weight(0) = 0.25;
  prompts.weight(1) = 0.75;
  const auto all = pi.enumerate(prompts);
  BOOST_REQUIRE_EQUAL(all.rows(), 6u);
  double total = 0;
  for (std::size_t r = 0; r < 6; ++r) {
    const auto src = static_cast<std::size_t>(all.source(r));
    BOOST_CHECK_EQUAL(all.tokens(r, 0), prompts.tokens(src, 0));
    BOOST_CHECK_CLOSE(all.weight(r), prompts.weight(src) * p[static_cast<std::size_t>(all.tokens(r, 1))], 1e-10);
    total += all.weight(r);
  }
  BOOST_CHECK_CLOSE(total, 1.0, 1e-12);
}

BOOST_AUTO_TEST_CASE(sample_draws_from_the_policy) {
  const std::vector<double> p{0.2, 0.5, 0.3};
  const auto pi = tabular::policy<double, space>::from_probabilities(space(1, 3), p);
  const auto prompts = prompts_of(test::bandit_rows({{0, 0}}));
  rng g(4);
  const std::size_t n = 60000;
  const auto s = pi.sample(prompts, n, g);
  BOOST_REQUIRE_EQUAL(s.rows(), n);
  std::vector<double> freq(3, 0);
  for (std::size_t r = 0; r < n; ++r) {
    freq[static_cast<std::size_t>(s.tokens(r, 1))] += 1.0 / n;
    BOOST_REQUIRE_EQUAL(s.length(r), 2);
  }
  BOOST_CHECK_CLOSE(s.weight(0), 1.0 / n, 1e-9);
  for (std::size_t a = 0; a < 3; ++a) BOOST_CHECK_LT(std::abs(freq[a] - p[a]), 4 * std::sqrt(p[a] * (1 - p[a]) / n));
}

BOOST_AUTO_TEST_CASE(from_probabilities_rejects_bad_input) {
  const std::vector<double> not_one{0.2, 0.2, 0.2}, negative{1.2, -0.2, 0.0}, short_{0.5, 0.5};
  BOOST_CHECK_THROW(dpolicy::from_probabilities(space(1, 3), not_one), invalid_argument);
  BOOST_CHECK_THROW(dpolicy::from_probabilities(space(1, 3), negative), invalid_argument);
  BOOST_CHECK_THROW(dpolicy::from_probabilities(space(1, 3), short_), invalid_argument);
  BOOST_CHECK_THROW(space(0, 3), invalid_argument);
  tabular::policy<double, space> pi(space(2, 3));
  const auto bad_prompt = test::bandit_rows({{2, 0}});
  BOOST_CHECK_THROW(pi.logprobs(bad_prompt), invalid_argument);
}

BOOST_AUTO_TEST_CASE(set_sequence_logprobs_projects_exactly) {
  tabular::policy<double, space> pi(space(2, 3));
  const auto prompts = prompts_of(test::bandit_rows({{0, 0}, {1, 0}}));
  const auto all = pi.enumerate(prompts);
  std::vector<double> target{std::log(0.1), std::log(0.6), std::log(0.3), std::log(0.5), std::log(0.25), std::log(0.25)};
  pi.set_sequence_logprobs(all, target);
  test::check_close(pi.probabilities(0), {0.1, 0.6, 0.3}, 1e-14, 0, "state 0");
  test::check_close(pi.probabilities(1), {0.5, 0.25, 0.25}, 1e-14, 0, "state 1");
}

BOOST_AUTO_TEST_CASE(exact_policy_step_is_the_kl_regularised_optimum) {
  const std::vector<double> ref_p{0.5, 0.3, 0.2};
  const auto ref = tabular::policy<double, space>::from_probabilities(space(1, 3), ref_p);
  tabular::reward<double, space> r(space(1, 3));
  r.table()(0, 0) = 0.3;
  r.table()(0, 1) = -1;
  r.table()(0, 2) = 2;
  const double beta = 0.7;
  auto pi = ref.snapshot();
  rng g;
  const auto prompts = prompts_of(test::bandit_rows({{0, 0}}));
  tabular::exact_policy_step{}.improve(pi, ref, r, prompts, beta, g);
  std::vector<double> expect(3);
  double z = 0;
  for (std::size_t a = 0; a < 3; ++a) z += expect[a] = ref_p[a] * std::exp(r.table()(0, Eigen::Index(a)) / beta);
  for (double& e : expect) e /= z;
  test::check_close(pi.probabilities(0), expect, 1e-14, 0, "pi*");

  // A mirror step of rate alpha: log pi1 = (1-alpha) log pi0 + alpha log pi* + const.
  auto pm = ref.snapshot();
  tabular::mirror_policy_step{0.25}.improve(pm, ref, r, prompts, beta, g);
  std::vector<double> mexp(3);
  double mz = 0;
  for (std::size_t a = 0; a < 3; ++a) mz += mexp[a] = std::pow(ref_p[a], 0.75) * std::pow(expect[a], 0.25);
  for (double& e : mexp) e /= mz;
  test::check_close(pm.probabilities(0), mexp, 1e-14, 0, "mirror step");
  BOOST_CHECK_THROW((tabular::mirror_policy_step{1.5}.improve(pm, ref, r, prompts, beta, g)), invalid_argument);
}

BOOST_AUTO_TEST_CASE(rewards_score_rows) {
  const space sp(2, 3);
  tabular::reward<double, space> r(sp);
  r.table()(1, 2) = 4.5;
  const auto batch = test::bandit_rows({{1, 2}, {0, 2}});
  const auto v = r.rewards(batch);
  BOOST_CHECK_EQUAL(v(0), 4.5);
  BOOST_CHECK_EQUAL(v(1), 0.0);
  // A prompt alone is not a complete response.
  BOOST_CHECK_THROW(r.rewards(prompts_of(batch)), invalid_argument);

  tabular::linear_reward<double, space>::matrix phi = tabular::linear_reward<double, space>::matrix::Zero(6, 2);
  phi(5, 0) = 1;
  phi(5, 1) = 2;  // (state 1, action 2)
  tabular::linear_reward<double, space> lr(sp, phi);
  lr.weights() << 0.5, -1;
  BOOST_CHECK_CLOSE(lr.rewards(batch)(0), 0.5 - 2, 1e-12);
  BOOST_CHECK_THROW((tabular::linear_reward<double, space>(sp, phi.topRows(5))), invalid_argument);
}

BOOST_AUTO_TEST_CASE(irl_optimum_needs_a_penalty) {
  const space sp(1, 3);
  const auto ref = tabular::policy<double, space>(sp);
  tabular::reward<double, space> r(sp);
  const auto demos = test::bandit_rows({{0, 0}});
  BOOST_CHECK_THROW(tabular::solve_irl_optimum(ref, r, demos, {1.0, 0.0}), invalid_argument);
}
