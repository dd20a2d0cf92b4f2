// Every shipped model and backend satisfies its concepts; near-misses do not.
#include <boost/test/unit_test.hpp>

#include "compile/minimal_models.hpp"
#include "juice/juice.hpp"

using namespace juice;
using space = tabular::bandit_space;

static_assert(Backend<host>);
static_assert(Policy<tabular::policy<double, space>> && EnumerablePolicy<tabular::policy<double, space>>);
static_assert(Policy<tabular::policy<float, space>> && EnumerablePolicy<tabular::policy<float, space>>);
static_assert(RewardModel<tabular::reward<double, space>> && RewardModel<tabular::reward<float, space>>);
static_assert(RewardModel<tabular::linear_reward<double, space>>);
static_assert(PolicyImprover<tabular::exact_policy_step, tabular::policy<double, space>, tabular::reward<double, space>>);
static_assert(PolicyImprover<tabular::mirror_policy_step, tabular::policy<double, space>, tabular::linear_reward<double, space>>);
static_assert(Optimizer<sgd, tabular::policy<double, space>> && Optimizer<adamw, tabular::reward<float, space>>);
static_assert(PairwiseLoss<sigmoid_loss> && PairwiseLoss<hinge_loss> && PairwiseLoss<linear_loss> && PairwiseLoss<ipo_loss>);
static_assert(Observer<null_observer>);
static_assert(tabular::TabularSpace<space>);

// The minimal types of docs/concepts.md, and the near-misses.
static_assert(Policy<minimal_policy> && !EnumerablePolicy<minimal_policy>);
static_assert(!Policy<policy_without_backward>);
static_assert(RewardModel<minimal_reward> && !RewardModel<reward_with_token_values>);
static_assert(!Policy<minimal_reward> && !RewardModel<minimal_policy>);
static_assert(!Backend<int>);
static_assert(!Observer<int>);

BOOST_AUTO_TEST_CASE(minimal_policy_runs_through_sft) {
  minimal_policy p;
  sgd opt;
  sequence_batch demos(2, 2);
  for (std::size_t b = 0; b < 2; ++b) {
    demos.prompt_length(b) = 1;
    demos.length(b) = 2;
  }
  const auto res = sft(sft_options{3}).run(p, demos, opt);
  BOOST_CHECK_EQUAL(res.updates, 3u);
  BOOST_CHECK_EQUAL(res.last_loss, 0.0);  // log-probs are all zero
}
