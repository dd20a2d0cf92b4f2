// juice/mdp/soft_bellman.hpp and juice/mdp/kl.hpp: soft value iteration against the sequence-level
// closed form pi_ref exp(r/beta) / Z on random trees, the two sides of the soft Bellman equations,
// the tabular exact policy step (a projection of sequence distributions) against soft value
// iteration, and exact KL / entropy against enumeration and hand values.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/backends/tabular/tabular.hpp"
#include "juice/mdp/kl.hpp"
#include "juice/mdp/logprob.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/mdp/soft_bellman.hpp"
#include "juice_test.hpp"
#include "mdp_test.hpp"

using namespace juice;
using test::tree;
using test::tree_policy;

namespace {
const std::vector<mdp::prefix_tree_options> trees{
    {1, 2, 1, std::nullopt}, {2, 3, 3, std::nullopt}, {2, 4, 3, token_t{0}}, {1, 3, 4, token_t{2}}, {3, 2, 5, std::nullopt}};

// log pi(y|x) of every enumerated response under a (states x V) log-policy table, set into a policy.
std::vector<double> sequence_logp(const tree& t, const std::vector<double>& log_policy, const sequence_batch& rows) {
  tree_policy p(t);
  mdp::set_log_policy(p, log_policy);
  const auto s = mdp::sequence_logprobs(p.logprobs(rows), rows);
  return {s.begin(), s.end()};
}
}  // namespace

BOOST_AUTO_TEST_CASE(soft_optimal_policy_equals_the_sequence_closed_form) {
  rng g(2024);
  for (const auto& o : trees)
    for (double beta : {0.3, 1.0, 2.5}) {
      const tree t(o);
      const auto ref = mdp::random_policy(t, 1.0, g);
      const auto r = mdp::random_token_table(t, 1.0, g);
      const auto sv = mdp::soft_value_iteration(t, r, mdp::log_policy_table(ref), beta);
      const auto rows = ref.enumerate(t.prompts());
      // Independent sequence-level computation: log pi_ref(y|x) + r(x,y)/beta - log Z(x).
      const auto lref = mdp::sequence_logprobs(ref.logprobs(rows), rows);
      std::vector<double> unnorm(rows.rows());
      for (std::size_t b = 0; b < rows.rows(); ++b) unnorm[b] = lref(b) + test::path_sum(t, r, rows, b) / beta;
      const auto log_z = test::log_sum_exp_by_source(rows, unnorm, t.num_prompts());
      std::vector<double> want(rows.rows());
      for (std::size_t b = 0; b < rows.rows(); ++b) want[b] = unnorm[b] - log_z[static_cast<std::size_t>(rows.source(b))];
      test::check_close(sequence_logp(t, sv.log_policy, rows), want, 1e-10, 0, "log pi*(y|x) vs closed form");
      // V(root x) = beta log Z(x).
      for (std::size_t x = 0; x < t.num_prompts(); ++x)
        BOOST_TEST(std::abs(sv.v[t.root(x)] - beta * log_z[x]) < 1e-10);
    }
}

BOOST_AUTO_TEST_CASE(both_sides_of_the_soft_bellman_equations_agree) {
  rng g(99);
  for (const auto& o : trees) {
    const tree t(o);
    const auto ref = mdp::random_policy(t, 2.0, g);
    const auto r = mdp::random_token_table(t, 3.0, g);
    const auto lref = mdp::log_policy_table(ref);
    const auto sv = mdp::soft_value_iteration(t, r, lref, 0.7);
    const auto res = mdp::soft_bellman_residual(t, r, lref, sv);
    BOOST_TEST(res.q < 1e-12);
    BOOST_TEST(res.v < 1e-12);
    BOOST_TEST(res.policy < 1e-12);
    // pi*(a|s) = pi_ref(a|s) exp((Q - V)/beta), written out.
    const std::size_t A = t.num_actions();
    for (std::size_t s = 0; s < t.num_states(); ++s)
      for (std::size_t a = 0; a < A; ++a)
        BOOST_TEST(std::abs(std::exp(sv.log_policy[s * A + a]) -
                            std::exp(lref[s * A + a]) * std::exp((sv.q[s * A + a] - sv.v[s]) / 0.7)) < 1e-12);
    // A perturbed V violates them: the residual sees it.
    auto bad = sv;
    bad.v[t.num_states() - 1] += 1e-3;
    BOOST_TEST(mdp::soft_bellman_residual(t, r, lref, bad).v > 5e-4);
  }
  BOOST_CHECK_THROW(mdp::soft_value_iteration(tree(1, 2, 2), std::vector<double>(3), std::vector<double>(6), 1.0),
                    invalid_argument);
  BOOST_CHECK_THROW(mdp::soft_value_iteration(tree(1, 2, 2), std::vector<double>(6), std::vector<double>(6), 0.0),
                    invalid_argument);
}

BOOST_AUTO_TEST_CASE(exact_policy_step_on_a_tree_equals_soft_value_iteration) {
  rng g(5);
  for (const auto& o : trees)
    for (auto kind : {tabular::reward_kind::token_sum, tabular::reward_kind::sequence}) {
      const tree t(o);
      const auto ref = mdp::random_policy(t, 1.0, g);
      tabular::reward<double, tree> r(t, kind);
      const auto table = mdp::random_token_table(t, 1.5, g);
      std::copy(table.begin(), table.end(), r.table().data());
      tree_policy pi = mdp::random_policy(t, 1.0, g);
      tabular::exact_policy_step{}.improve(pi, ref, r, t.prompts(), 0.8, g);
      const auto sv = mdp::soft_value_iteration(r, ref, 0.8);
      const auto got = mdp::log_policy_table(pi);
      test::check_close(got, sv.log_policy, 1e-10, 0, "exact policy step vs soft value iteration");
    }
}

BOOST_AUTO_TEST_CASE(exact_kl_and_entropy) {
  // Hand values: one state, two actions, pi = (0.25, 0.75), ref = (0.5, 0.5):
  //   KL = 0.25 log 0.5 + 0.75 log 1.5,  H = -(0.25 log 0.25 + 0.75 log 0.75).
  const tree one(1, 2, 1);
  const std::vector<double> lp{std::log(0.25), std::log(0.75)}, lr{std::log(0.5), std::log(0.5)};
  BOOST_TEST(std::abs(mdp::sequence_kl(one, lp, lr)[0] - (0.25 * std::log(0.5) + 0.75 * std::log(1.5))) < 1e-15);
  BOOST_TEST(std::abs(mdp::sequence_entropy(one, lp)[0] + (0.25 * std::log(0.25) + 0.75 * std::log(0.75))) < 1e-15);
  // Two steps, no EOS: the chain rule against the product distribution. pi(.|s) = (0.25, 0.75) at
  // every state, ref uniform: KL = 2 * KL_1, H = 2 * H_1.
  const tree two(1, 2, 2);
  std::vector<double> lp2, lr2;
  for (int s = 0; s < 3; ++s) {
    lp2.insert(lp2.end(), lp.begin(), lp.end());
    lr2.insert(lr2.end(), lr.begin(), lr.end());
  }
  BOOST_TEST(std::abs(mdp::sequence_kl(two, lp2, lr2)[0] - 2 * (0.25 * std::log(0.5) + 0.75 * std::log(1.5))) < 1e-15);

  // Random trees: occupancy-weighted per-state values equal enumeration.
  rng g(8);
  for (const auto& o : trees) {
    const tree t(o);
    const auto pi = mdp::random_policy(t, 1.0, g), ref = mdp::random_policy(t, 1.0, g);
    const auto kl = mdp::sequence_kl(t, mdp::log_policy_table(pi), mdp::log_policy_table(ref));
    const auto h = mdp::sequence_entropy(t, mdp::log_policy_table(pi));
    double mean_kl = 0, mean_h = 0;
    for (std::size_t x = 0; x < t.num_prompts(); ++x) {
      mean_kl += kl[x] / static_cast<double>(t.num_prompts());
      mean_h += h[x] / static_cast<double>(t.num_prompts());
    }
    BOOST_TEST(std::abs(mean_kl - mdp::enumerated_kl(pi, ref, t.prompts())) < 1e-12);
    BOOST_TEST(std::abs(mean_h - mdp::enumerated_entropy(pi, t.prompts())) < 1e-12);
    BOOST_TEST(mdp::enumerated_kl(pi, pi, t.prompts()) == 0.0, boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(sampled_kl_estimates_are_unbiased) {
  // k1 and k3 summed over a response are unbiased for the sequence KL: their mean over many samples
  // lies within 4 standard errors of the exact value.
  rng g(31);
  const tree t(1, 3, 3, token_t{0});
  const auto pi = mdp::random_policy(t, 1.0, g), ref = mdp::random_policy(t, 1.0, g);
  const double exact = mdp::sequence_kl(t, mdp::log_policy_table(pi), mdp::log_policy_table(ref))[0];
  const auto rows = pi.sample(t.prompts(), 20000, g);
  const auto lp = pi.logprobs(rows), lr = ref.logprobs(rows);
  for (auto kind : {mdp::kl_estimator::k1, mdp::kl_estimator::k3}) {
    const auto est = mdp::sequence_kl_estimate(lp, lr, rows, kind);
    double m = 0, m2 = 0;
    for (double e : est) {
      m += e;
      m2 += e * e;
    }
    m /= static_cast<double>(est.size());
    const double se = std::sqrt((m2 / static_cast<double>(est.size()) - m * m) / static_cast<double>(est.size()));
    BOOST_TEST(std::abs(m - exact) < 4 * se + 1e-12, "estimate " << m << " vs exact " << exact << " (se " << se << ")");
  }
  // k2 and k3 are non-negative per token; k1 of identical policies is zero.
  const auto k3 = mdp::token_kl_estimate(lp, lr, rows, mdp::kl_estimator::k3);
  BOOST_TEST(xt::amin(k3)() >= 0.0);
  BOOST_TEST(xt::amax(xt::abs(mdp::token_kl_estimate(lp, lp, rows, mdp::kl_estimator::k1)))() == 0.0);
}
