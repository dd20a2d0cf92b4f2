// The exact ML-IRL gradient grad l(theta) (juice/diagnostics/irl_likelihood.hpp, implicit_reward.hpp)
// on token-level tabular models against central finite differences, and the algorithms' stochastic
// gradient estimates (RFT's linear reward loss, IRFT's round-start gradient) against it: unbiased
// within 4 standard errors over many independent draws; exact-expectation runs report exactly it.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/diagnostics/alignment.hpp"
#include "juice/diagnostics/implicit_reward.hpp"
#include "juice/objectives/irl_likelihood.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/optim/sgd.hpp"
#include "juice_test.hpp"

using namespace juice;
using tree = mdp::prefix_tree;
using tpolicy = tabular::policy<double, tree>;

static_assert(RewardModel<implicit_reward<tpolicy>>);
static_assert(RewardModel<implicit_reward<tabular::policy<float, tree>>>);

namespace {
struct problem {
  tree t{2, 3, 3, token_t{0}};
  rng g{17};
  tpolicy ref = mdp::random_policy(t, 1.0, g);
  tpolicy expert = mdp::random_policy(t, 1.5, g);
  sequence_batch demos;
  double beta = 0.7;
  problem() {
    demos = expert.sample(t.prompts({0.4, 0.6}), 6, g);
    for (std::size_t b = 0; b < demos.rows(); ++b) demos.weight(b) = 0.5 + g.uniform();  // unequal weights
  }
};

std::vector<double> grad_of(std::span<const double> g) { return {g.begin(), g.end()}; }

template <class R>
void check_reward_gradient(problem& p, R& r, const std::string& what) {
  r.zero_grad();
  irl_log_likelihood(p.ref, r, p.demos, {p.beta, true});
  const auto exact = grad_of(r.parameters()[0].grad);
  const auto fd = test::finite_difference(r.parameters()[0].value, 1e-5,
                                          [&] { return irl_log_likelihood(p.ref, r, p.demos, {p.beta, false}); });
  test::check_close(exact, fd, 1e-8, 1e-6, what);
}
}  // namespace

BOOST_AUTO_TEST_CASE(exact_gradient_equals_finite_differences_token_reward) {
  problem p;
  tabular::reward<double, tree> r(p.t, tabular::reward_kind::token_sum);
  const auto th = mdp::random_token_table(p.t, 1.0, p.g);
  std::copy(th.begin(), th.end(), r.table().data());
  check_reward_gradient(p, r, "token-sum reward");
}

BOOST_AUTO_TEST_CASE(exact_gradient_equals_finite_differences_sequence_reward) {
  problem p;
  tabular::reward<double, tree> r(p.t, tabular::reward_kind::sequence);
  const auto th = mdp::random_token_table(p.t, 1.0, p.g);
  std::copy(th.begin(), th.end(), r.table().data());
  check_reward_gradient(p, r, "sequence reward");
}

BOOST_AUTO_TEST_CASE(exact_gradient_equals_finite_differences_linear_reward) {
  problem p;
  tabular::linear_reward<double, tree>::matrix phi(static_cast<Eigen::Index>(p.t.num_states() * 3), 4);
  for (Eigen::Index i = 0; i < phi.size(); ++i) phi.data()[i] = mdp::standard_normal(p.g);
  tabular::linear_reward<double, tree> r(p.t, phi);
  for (Eigen::Index i = 0; i < 4; ++i) r.weights()(i) = mdp::standard_normal(p.g);
  check_reward_gradient(p, r, "linear reward");
}

BOOST_AUTO_TEST_CASE(implicit_reward_gradient_is_the_demonstration_likelihood_gradient) {
  problem p;
  tpolicy pi = mdp::random_policy(p.t, 1.0, p.g);
  double l = 0;
  const double gn = implicit_irl_grad_norm_sq(pi, p.ref, p.demos, &l);
  BOOST_TEST(std::abs(l + demonstration_nll(pi, p.demos)) < 1e-12);  // l = E_D log pi_theta
  const auto exact = grad_of(pi.parameters()[0].grad);
  double sq = 0;
  for (double v : exact) sq += v * v;
  BOOST_TEST(std::abs(sq - gn) < 1e-14);
  const auto fd = test::finite_difference(pi.parameters()[0].value, 1e-5, [&] { return -demonstration_nll(pi, p.demos); });
  test::check_close(exact, fd, 1e-8, 1e-6, "implicit reward: grad E_D log pi");
}

BOOST_AUTO_TEST_CASE(rft_linear_reward_step_is_unbiased_for_grad_l) {
  problem p;
  tabular::reward<double, tree> r(p.t, tabular::reward_kind::token_sum);
  const auto th = mdp::random_token_table(p.t, 0.5, p.g);
  std::copy(th.begin(), th.end(), r.table().data());
  r.zero_grad();
  irl_log_likelihood(p.ref, r, p.demos, {p.beta, true});
  const auto exact = grad_of(r.parameters()[0].grad);
  // pi_theta: the exact policy step for this reward.
  tpolicy pi = p.ref.snapshot();
  tabular::exact_policy_step{}.improve(pi, p.ref, r, p.t.prompts(), p.beta, p.g);
  sequence_batch data = p.demos;
  normalise_weights(data);
  test::check_unbiased(
      exact, 3000, [&](std::size_t k) {
        rng g = rng::stream(5, k);
        const auto pairs = make_pairs(data, generate(pi, prompts_of(data), sampled{1}, g));
        const auto both = concat_rows(pairs.chosen, pairs.rejected);
        sequence_values<double> w;
        rft_reward_loss<linear_loss>(pairs, r.rewards(both), 1.0 / p.beta, &w);
        r.zero_grad();
        r.backward(both, w);
        auto v = grad_of(r.parameters()[0].grad);
        for (double& e : v) e = -e;  // the descent direction estimates +grad l
        return v;
      },
      "RFT linear loss");
}

BOOST_AUTO_TEST_CASE(irft_round_start_gradient_is_unbiased_for_grad_l) {
  problem p;
  tpolicy pi = mdp::random_policy(p.t, 1.0, p.g);
  implicit_irl_grad_norm_sq(pi, p.ref, p.demos);
  const auto exact = grad_of(pi.parameters()[0].grad);
  sequence_batch data = p.demos;
  normalise_weights(data);
  test::check_unbiased(
      exact, 3000, [&](std::size_t k) {
        rng g = rng::stream(6, k);
        const auto pairs = make_pairs(data, generate(pi, prompts_of(data), sampled{1}, g));
        const auto both = concat_rows(pairs.chosen, pairs.rejected);
        const auto ref = sequence_sum(pi.logprobs(both), both);  // pi_ref := pi_theta at round start
        const std::vector<double> refv(ref.begin(), ref.end());
        const auto logp = pi.logprobs(both);
        token_values<double> w;
        irft_loss<linear_loss>(pairs, both, logp, refv, p.beta, &w);
        pi.zero_grad();
        pi.backward(both, w);
        auto v = grad_of(pi.parameters()[0].grad);
        for (double& e : v) e = -e / p.beta;  // -grad h = beta (grad log pi(y) - grad log pi(y~))
        return v;
      },
      "IRFT round start");
}

BOOST_AUTO_TEST_CASE(exact_runs_report_the_exact_stationarity_measure) {
  problem p;
  // IRFT, linear loss, exact expectations: the round-start event's squared norm is beta^2 ||grad l||^2.
  {
    tpolicy pi = mdp::random_policy(p.t, 1.0, p.g);
    tpolicy copy = pi.snapshot();
    const double want = p.beta * p.beta * implicit_irl_grad_norm_sq(copy, p.ref, p.demos);
    std::vector<double> seen;
    sgd opt(sgd_hyper{0.1, 0.0});
    irft_options o;
    o.beta = p.beta;
    o.rounds = 1;
    o.steps_per_round = 2;
    irft_linear(o).run(pi, p.demos, opt, exact{}, [&](const step_event& e) { if (e.round_start) seen.push_back(e.grad_norm_sq); });
    BOOST_REQUIRE(seen.size() == 1u);
    BOOST_TEST(std::abs(seen[0] - want) <= 1e-12 * want);
  }
  // RFT, linear loss, exact expectations, theta_0 = 0 and pi_0 = pi_ref = pi_theta_0: the first
  // reward event's squared norm is ||grad l(0)||^2.
  {
    tabular::reward<double, tree> r(p.t, tabular::reward_kind::sequence);
    const double want = irl_grad_norm_sq(p.ref, r, p.demos, p.beta);
    tpolicy pi = p.ref.snapshot();
    std::vector<double> seen;
    sgd opt(sgd_hyper{0.1, 0.0});
    rft_options o;
    o.beta = p.beta;
    o.iterations = 1;
    tabular::exact_policy_step step;
    rft_linear(o).run(pi, p.ref, r, p.demos, opt, step, exact{},
                      [&](const step_event& e) { if (e.algorithm == "rft.reward") seen.push_back(e.grad_norm_sq); });
    BOOST_REQUIRE(seen.size() == 1u);
    BOOST_TEST(std::abs(seen[0] - want) <= 1e-12 * want);
  }
}
