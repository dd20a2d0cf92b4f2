// juice/diagnostics/alignment.hpp against hand-computed values on a one-state, three-action model
// and against brute-force sums on a small tree.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/backends/tabular/tabular.hpp"
#include "juice/diagnostics/alignment.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice_test.hpp"

using namespace juice;
using bandit = tabular::bandit_space;
using bpolicy = tabular::policy<double, bandit>;

namespace {
const std::vector<double> P{0.5, 0.3, 0.2}, Q{0.2, 0.2, 0.6};
const bandit sp(1, 3);

sequence_batch one_prompt() {
  sequence_batch x(1, 1);
  x.prompt_length(0) = x.length(0) = 1;
  return x;
}
}  // namespace

BOOST_AUTO_TEST_CASE(nll_gap_and_accuracy_by_hand) {
  const auto pi = bpolicy::from_probabilities(sp, P);
  const auto ref = bpolicy::from_probabilities(sp, Q);
  // Demonstrations a0, a0, a2 with weights 1, 1, 2: NLL = -(log .5 + log .5 + 2 log .2) / 4.
  auto demos = test::bandit_rows({{0, 0}, {0, 0}, {0, 2}});
  demos.weight(0) = 1;
  demos.weight(1) = 1;
  demos.weight(2) = 2;
  BOOST_TEST(std::abs(demonstration_nll(pi, demos) + (2 * std::log(0.5) + 2 * std::log(0.2)) / 4) < 1e-14);
  // Pairs (chosen, rejected) = (a0, a1) weight 3 and (a2, a0) weight 1:
  //   gap = (3 log(.5/.3) + log(.2/.5)) / 4.
  pair_batch pairs{test::bandit_rows({{0, 0}, {0, 2}}), test::bandit_rows({{0, 1}, {0, 0}}), xt::xtensor<double, 1>{3.0, 1.0}};
  const double gap = (3 * std::log(0.5 / 0.3) + std::log(0.2 / 0.5)) / 4;
  BOOST_TEST(std::abs(logprob_gap(pi, pairs) - gap) < 1e-14);
  // Change from ref: ref's gap = (3 log(.2/.2) + log(.6/.2)) / 4.
  BOOST_TEST(std::abs(logprob_gap_change(pi, ref, pairs) - (gap - std::log(3.0) / 4)) < 1e-14);
  // Implicit reward log(pi/ref): a0: log 2.5, a1: log 1.5, a2: log(1/3). Pair 1: a0 > a1 (correct);
  // pair 2: a2 < a0 (wrong). Accuracy = 3/4.
  BOOST_TEST(std::abs(implicit_reward_accuracy(pi, ref, pairs, 0.1) - 0.75) < 1e-15);
  BOOST_TEST(std::abs(implicit_reward_accuracy(pi, pi, pairs) - 0.5) < 1e-15);  // all ties
}

BOOST_AUTO_TEST_CASE(expected_reward_win_rate_kl_entropy_by_hand) {
  const auto pi = bpolicy::from_probabilities(sp, P);
  const auto ref = bpolicy::from_probabilities(sp, Q);
  tabular::reward<double, bandit> r(sp);
  r.table() << 1.0, 0.0, 1.0;  // a0 and a2 tie
  const auto x = one_prompt();
  BOOST_TEST(std::abs(expected_reward(pi, r, x) - 0.7) < 1e-14);
  // Win: y in {a0, a2} and y' = a1: 0.7 * 0.2; ties: both in {a0,a2} (0.7 * 0.8) or both a1 (0.3 * 0.2).
  const double want = 0.7 * 0.2 + 0.5 * (0.7 * 0.8 + 0.3 * 0.2);
  BOOST_TEST(std::abs(win_rate(pi, ref, r, x) - want) < 1e-14);
  // Against itself a win rate is 1/2.
  BOOST_TEST(std::abs(win_rate(pi, pi, r, x) - 0.5) < 1e-14);
  double kl = 0, h = 0;
  for (int a = 0; a < 3; ++a) {
    kl += P[a] * std::log(P[a] / Q[a]);
    h -= P[a] * std::log(P[a]);
  }
  BOOST_TEST(std::abs(kl_to_reference(pi, ref, x) - kl) < 1e-14);
  BOOST_TEST(std::abs(entropy(pi, x) - h) < 1e-14);
  // Sampled win rate: within 4 standard errors of the exact value.
  rng g(4);
  const std::size_t n = 20000;
  const double est = sampled_win_rate(pi, ref, r, x, n, g);
  BOOST_TEST(std::abs(est - want) < 4 * std::sqrt(0.25 / n));
}

BOOST_AUTO_TEST_CASE(win_rate_on_a_tree_equals_brute_force) {
  rng g(12);
  const mdp::prefix_tree t(2, 2, 3, token_t{1});
  const auto pi = mdp::random_policy(t, 1.0, g), op = mdp::random_policy(t, 1.0, g);
  tabular::reward<double, mdp::prefix_tree> r(t, tabular::reward_kind::token_sum);
  const auto th = mdp::random_token_table(t, 1.0, g);
  std::copy(th.begin(), th.end(), r.table().data());
  const auto prompts = t.prompts({0.3, 0.7});
  const auto a = pi.enumerate(prompts), b = op.enumerate(prompts);
  const auto ra = r.rewards(a), rb = r.rewards(b);
  double want = 0;
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < b.rows(); ++j)
      if (a.source(i) == b.source(j)) {
        const double wx = prompts.weight(static_cast<std::size_t>(a.source(i)));
        want += (a.weight(i) / wx) * (b.weight(j) / wx) * wx * (ra(i) > rb(j) ? 1.0 : ra(i) == rb(j) ? 0.5
                                                                                                     : 0.0);
      }
  BOOST_TEST(std::abs(win_rate(pi, op, r, prompts) - want) < 1e-14);
  BOOST_TEST(std::abs(win_rate(pi, op, r, prompts) + win_rate(op, pi, r, prompts) - 1) < 1e-14);
}
