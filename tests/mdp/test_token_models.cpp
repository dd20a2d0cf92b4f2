// Token-level tabular models on prefix trees through the unchanged generic SFT/RFT/IRFT code: with
// H = 1 and one prompt the tree has one state and every algorithm reproduces the one-state example
// (bandit space) exactly; on deeper trees SFT reaches the closed-form maximum-likelihood policy and
// RFT (token-sum, sequence and linear-feature rewards) reaches the regularised IRL optimum,
// grad l(theta) = lambda theta.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/diagnostics/alignment.hpp"
#include "juice/diagnostics/implicit_reward.hpp"
#include "juice/experiments/one_state.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/mdp/soft_bellman.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/sgd.hpp"
#include "juice_test.hpp"
#include "mdp_test.hpp"

using namespace juice;
using test::tree;
using test::tree_policy;
using tree_reward = tabular::reward<double, tree>;

namespace {
const experiments::one_state_options defaults{};

std::vector<double> probs(const tree_policy& pi) { return pi.probabilities(0); }

std::vector<double> one_state(const std::string& method) {
  experiments::one_state_options o;
  o.methods = {method};
  return experiments::run_one_state(o)[0].pi;
}

// The one-state demonstrations as tree rows (prompt 0, one response token).
sequence_batch demos_one_state() { return test::bandit_rows(std::vector<std::pair<int, int>>(10, {0, 0})); }
}  // namespace

BOOST_AUTO_TEST_CASE(one_state_tree_reduces_to_the_one_state_example) {
  const tree t(1, 3, 1);
  BOOST_REQUIRE(t.num_states() == 1u);
  const tree_policy ref(t);  // uniform
  const auto demos = demos_one_state();
  // SFT: AdamW, full batch.
  {
    tree_policy pi = ref.snapshot();
    adamw opt(adamw_hyper{defaults.sft_lr});
    sft_options so;
    so.steps = defaults.sft_steps;
    sft(so).run(pi, demos, opt);
    test::check_close(probs(pi), one_state("SFT"), 1e-12, 0, "SFT on the tree vs bandit");
  }
  // RFT: linear loss + L2, exact policy step; and the regularised IRL optimum's closed form.
  {
    tree_policy pi = ref.snapshot();
    tree_reward r(t);
    sgd opt(sgd_hyper{defaults.rft_lr, 0.0});
    rft_options ro;
    ro.beta = defaults.beta;
    ro.l2 = defaults.lambda;
    ro.iterations = defaults.rft_iterations;
    tabular::exact_policy_step step;
    rft_linear(ro).run(pi, ref, r, demos, opt, step, exact{});
    test::check_close(probs(pi), one_state("RFT"), 1e-12, 0, "RFT on the tree vs bandit");
    const double u = test::one_state_u();
    const double z = std::exp(2 * u) + 2 * std::exp(-u);
    test::check_close(probs(pi), {std::exp(2 * u) / z, std::exp(-u) / z, std::exp(-u) / z}, 1e-6, 0, "RFT vs closed form");
    tree_reward opt_r(t);
    tabular::solve_irl_optimum(ref, opt_r, demos, {1.0, 1.0});
    test::check_close({opt_r.table()(0, 0), opt_r.table()(0, 1), opt_r.table()(0, 2)}, {2 * u, -u, -u}, 1e-9, 0,
                      "IRL optimum on the tree");
  }
  // IRFT: sigmoid loss, T rounds of K SGD steps.
  {
    tree_policy pi = ref.snapshot();
    sgd opt(sgd_hyper{defaults.irft_lr, 0.0});
    irft_options io;
    io.beta = defaults.beta;
    io.rounds = defaults.irft_rounds;
    io.steps_per_round = defaults.irft_steps;
    irft(io).run(pi, demos, opt, exact{});
    test::check_close(probs(pi), one_state("IRFT"), 1e-12, 0, "IRFT on the tree vs bandit");
  }
}

BOOST_AUTO_TEST_CASE(sft_on_a_tree_reaches_the_maximum_likelihood_policy) {
  // Demonstrations: every response of a random policy q, weighted by q(y|x). The maximum-likelihood
  // softmax policy is q itself: pi(a|s) = q(a|s) on every state.
  rng g(3);
  const tree t(2, 2, 3, token_t{1});
  const auto q = mdp::random_policy(t, 1.0, g);
  const auto demos = q.enumerate(t.prompts());
  tree_policy pi(t);
  sgd opt(sgd_hyper{4.0, 0.0});
  sft_options so;
  so.steps = 3000;
  sft(so).run(pi, demos, opt);
  test::check_close(mdp::log_policy_table(pi), mdp::log_policy_table(q), 1e-7, 0, "SFT vs maximum likelihood");
}

namespace {
// Runs RFT (linear loss + L2, exact expectations and policy step) and returns the largest violation of
// the regularised stationarity condition grad l(theta) = lambda theta, and whether the policy equals
// the soft-optimal policy of the final reward (checked when the reward is a tabular one).
template <class R>
double rft_stationarity(R& r, const tree_policy& ref, const sequence_batch& demos, double beta, double lambda,
                        std::size_t iterations, double lr, tree_policy& pi) {
  sgd opt(sgd_hyper{lr, 0.0});
  rft_options ro;
  ro.beta = beta;
  ro.l2 = lambda;
  ro.iterations = iterations;
  tabular::exact_policy_step step;
  rft_linear(ro).run(pi, ref, r, demos, opt, step, exact{});
  r.zero_grad();
  irl_log_likelihood(ref, r, demos, {beta, true});
  double worst = 0;
  const auto p = r.parameters()[0];
  for (std::size_t i = 0; i < p.value.size(); ++i) worst = std::max(worst, std::abs(p.grad[i] - lambda * p.value[i]));
  return worst;
}
}  // namespace

BOOST_AUTO_TEST_CASE(rft_on_token_level_rewards_reaches_the_regularised_irl_optimum) {
  rng g(21);
  const tree t(2, 3, 2, token_t{0});
  const auto ref = mdp::random_policy(t, 0.5, g);
  const auto expert = mdp::random_policy(t, 1.5, g);
  const auto demos = expert.sample(t.prompts(), 8, g);
  const double beta = 0.8, lambda = 0.5;
  for (auto kind : {tabular::reward_kind::token_sum, tabular::reward_kind::sequence}) {
    tree_reward r(t, kind);
    tree_policy pi = ref.snapshot();
    BOOST_TEST(rft_stationarity(r, ref, demos, beta, lambda, 600, 1.0, pi) < 1e-9);
    // The policy is the soft-optimal policy of the final reward (up to the last reward step).
    tree_policy best(t);
    mdp::set_log_policy(best, mdp::soft_value_iteration(r, ref, beta).log_policy);
    test::check_close(mdp::log_policy_table(pi), mdp::log_policy_table(best), 1e-8, 0, "RFT policy vs soft optimum");
  }
  // Linear-feature reward.
  tabular::linear_reward<double, tree>::matrix phi(static_cast<Eigen::Index>(t.num_states() * 3), 3);
  for (Eigen::Index i = 0; i < phi.size(); ++i) phi.data()[i] = mdp::standard_normal(g);
  tabular::linear_reward<double, tree> lr(t, phi);
  tree_policy pi = ref.snapshot();
  BOOST_TEST(rft_stationarity(lr, ref, demos, beta, lambda, 600, 0.5, pi) < 1e-9);
}

BOOST_AUTO_TEST_CASE(irft_linear_exact_ascends_the_demonstration_likelihood) {
  rng g(8);
  const tree t(2, 3, 3);
  const auto base = mdp::random_policy(t, 0.5, g);
  const auto demos = mdp::random_policy(t, 2.0, g).sample(t.prompts(), 6, g);
  tree_policy pi = base.snapshot();
  const double before = -demonstration_nll(pi, demos);
  std::vector<double> l;
  sgd opt(sgd_hyper{0.5, 0.0});
  irft_options io;
  io.beta = 1.0;
  io.rounds = 20;
  io.steps_per_round = 1;  // K = 1: every step is a round start, an exact ascent step on l
  io.chunk_rounds = false;
  irft_linear(io).run(pi, demos, opt, exact{}, [&](const step_event&) { l.push_back(-demonstration_nll(pi, demos)); });
  BOOST_TEST(l.front() > before);
  for (std::size_t i = 1; i < l.size(); ++i) BOOST_TEST(l[i] >= l[i - 1] - 1e-12);
}
