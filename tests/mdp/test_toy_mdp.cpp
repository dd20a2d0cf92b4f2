// The toy-mdp experiments (juice/experiments/toy_mdp.hpp): the robustness experiment is
// deterministic for a fixed seed, the rate experiment's exact measure bounds the algorithm's own
// round-start estimate, and bad options are rejected with one-line sentences.
#define BOOST_TEST_MODULE toy_mdp
#include <algorithm>
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/experiments/toy_mdp.hpp"

using namespace juice;
using namespace juice::experiments;

namespace {
toy_mdp_robustness_options small_robustness() {
  toy_mdp_robustness_options o;
  o.mdp = {3, 2, 2, false};
  o.demonstrations = 10;
  o.seeds = 2;
  o.steps = 10;
  o.rft_iterations = 5;
  return o;
}

bool same(const robustness_row& a, const robustness_row& b) {
  return a.method == b.method && a.eps == b.eps && a.seeds == b.seeds && a.true_reward_mean == b.true_reward_mean &&
         a.true_reward_se == b.true_reward_se && a.logprob_gap_mean == b.logprob_gap_mean &&
         a.logprob_gap_change_mean == b.logprob_gap_change_mean && a.win_rate_mean == b.win_rate_mean &&
         a.win_rate_se == b.win_rate_se && a.kl_to_expert_mean == b.kl_to_expert_mean &&
         a.implicit_accuracy_mean == b.implicit_accuracy_mean;
}
}  // namespace

BOOST_AUTO_TEST_CASE(robustness_is_deterministic_for_a_fixed_seed) {
  for (bool exact_mode : {true, false}) {
    auto o = small_robustness();
    o.exact = exact_mode;
    const auto a = run_toy_mdp_robustness(o), b = run_toy_mdp_robustness(o);
    BOOST_REQUIRE(a.size() == std::size_t{3 * 6});
    for (std::size_t i = 0; i < a.size(); ++i) BOOST_TEST(same(a[i], b[i]), "row " << i << " differs between runs");
    o.seed = 1;
    const auto c = run_toy_mdp_robustness(o);
    BOOST_TEST(c[2].true_reward_mean != a[2].true_reward_mean);  // another seed, another MDP
  }
}

BOOST_AUTO_TEST_CASE(robustness_rows_are_sane) {
  const auto rows = run_toy_mdp_robustness(small_robustness());
  for (const auto& r : rows) {
    BOOST_TEST(r.seeds == 2u);
    BOOST_TEST(r.win_rate_mean >= 0.0);
    BOOST_TEST(r.win_rate_mean <= 1.0);
    BOOST_TEST(r.kl_to_expert_mean >= -1e-12);
    if (r.method == "initial") {
      BOOST_TEST(std::abs(r.win_rate_mean - 0.5) < 1e-12);  // the initial policy against itself
      BOOST_TEST(r.logprob_gap_change_mean == 0.0);
    }
    if (r.method == "expert") BOOST_TEST(std::abs(r.kl_to_expert_mean) < 1e-12);
    if (r.method == "SFT") {
      BOOST_TEST(r.win_rate_minus_sft_mean == 0.0);
      BOOST_TEST(r.win_rate_minus_sft_se == 0.0);
    }
  }
  // The paired difference's mean is the difference of the means.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& sft = *std::find_if(rows.begin(), rows.end(),
                                    [&](const robustness_row& r) { return r.method == "SFT" && r.eps == rows[i].eps; });
    BOOST_TEST(std::abs(rows[i].win_rate_minus_sft_mean - (rows[i].win_rate_mean - sft.win_rate_mean)) < 1e-12);
  }
  auto o = small_robustness();
  o.methods = {"SPIN"};
  o.eps = {0.0};
  BOOST_TEST(std::isnan(run_toy_mdp_robustness(o).back().win_rate_minus_sft_mean));
}

BOOST_AUTO_TEST_CASE(rate_exact_measure_bounds_the_reported_estimate) {
  toy_mdp_rate_options o;
  o.mdp = {3, 2, 2, false};
  o.budgets = {8, 32, 128};
  o.steps_per_round = 4;
  const auto r = run_toy_mdp_rate(o);
  BOOST_REQUIRE(r.irft.min_grad_norm_sq.size() == 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    // The round starts are among the iterates the exact measure visits.
    BOOST_TEST(r.irft.min_event_grad_norm_sq[i] >= r.irft.min_grad_norm_sq[i] * (1 - 1e-9));
    BOOST_TEST(r.rft.min_event_grad_norm_sq[i] >= r.rft.min_grad_norm_sq[i] * (1 - 1e-9));
  }
  BOOST_TEST(r.irft.fit.slope < 0.0);
  BOOST_TEST(r.rft.fit.slope < 0.0);
  const auto again = run_toy_mdp_rate(o);
  BOOST_TEST(again.irft.min_grad_norm_sq == r.irft.min_grad_norm_sq, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_options_are_rejected_with_one_line_sentences) {
  auto rejects = [](auto o, const std::string& needle) {
    try {
      validate(o);
      BOOST_ERROR("accepted bad options; expected: " << needle);
    } catch (const juice::invalid_argument& e) {
      const std::string m = e.what();
      BOOST_CHECK_MESSAGE(m.find(needle) != std::string::npos, m);
      BOOST_CHECK_MESSAGE(m.find('\n') == std::string::npos, "message spans lines: " << m);
    }
  };
  toy_mdp_rate_options r;
  r.mdp.vocabulary = 1;
  rejects(r, "vocabulary needs at least 2");
  r = {};
  r.budgets = {16};
  rejects(r, "at least two budgets");
  r = {};
  r.budgets = {16, 18};
  rejects(r, "multiple of K");
  r = {};
  r.budgets = {64, 16};
  rejects(r, "strictly increasing");
  r = {};
  r.c = -1;
  rejects(r, "step-size constant");
  r = {};
  r.mdp = {8, 6, 1, false};
  rejects(r, "4096 responses");
  toy_mdp_robustness_options o;
  o.mdp = {5, 4, 1, false};
  rejects(o, "512 responses");
  o = {};
  o.eps = {0.5, 1.5};
  rejects(o, "eps must lie in [0, 1]");
  o = {};
  o.methods = {"PPO"};
  rejects(o, "unknown method 'PPO'");
  o = {};
  o.seeds = 0;
  rejects(o, "at least one seed");
  o = {};
  o.steps = 12;
  rejects(o, "multiple of IRFT's rounds");
  o = {};
  o.beta = 0;
  rejects(o, "must be positive");
  BOOST_CHECK_THROW(run_toy_mdp_robustness(o), juice::invalid_argument);
}
