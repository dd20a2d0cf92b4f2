// juice/mdp/advantages.hpp: GAE's two limits (lambda = 1: returns minus values; lambda = 0: one-step
// TD errors), discounted returns and KL-penalised rewards against hand-computed values.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/mdp/advantages.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice_test.hpp"

using namespace juice;

namespace {
// Rows of different prompt and response lengths, with random rewards and values on response tokens.
struct fixture {
  sequence_batch batch{3, 6};
  token_values<double> r = xt::zeros<double>({3, 6}), v = xt::zeros<double>({3, 6});
  fixture() {
    const int pl[3] = {1, 2, 1}, len[3] = {6, 4, 2};
    rng g(5);
    for (std::size_t b = 0; b < 3; ++b) {
      batch.prompt_length(b) = pl[b];
      batch.length(b) = len[b];
      for (int t = pl[b]; t < len[b]; ++t) {
        r(b, static_cast<std::size_t>(t)) = mdp::standard_normal(g);
        v(b, static_cast<std::size_t>(t)) = mdp::standard_normal(g);
      }
    }
  }
};
std::vector<double> flat(const token_values<double>& x) { return {x.begin(), x.end()}; }
}  // namespace

BOOST_FIXTURE_TEST_CASE(gae_lambda_one_is_returns_minus_values, fixture) {
  for (double gamma : {1.0, 0.9, 0.5}) {
    const auto a = mdp::gae(r, v, batch, gamma, 1.0);
    const auto g = mdp::discounted_returns(r, batch, gamma);
    test::check_close(flat(a), flat(token_values<double>(g - v)), 1e-12, 1e-12, "GAE(1) vs G - V");
  }
}

BOOST_FIXTURE_TEST_CASE(gae_lambda_zero_is_td_error, fixture) {
  for (double gamma : {1.0, 0.7}) {
    const auto a = mdp::gae(r, v, batch, gamma, 0.0);
    token_values<double> td = xt::zeros<double>({3, 6});
    for (std::size_t b = 0; b < 3; ++b)
      for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) {
        const auto k = static_cast<std::size_t>(t);
        const double next = t + 1 < batch.length(b) ? v(b, k + 1) : 0.0;
        td(b, k) = r(b, k) + gamma * next - v(b, k);
      }
    test::check_close(flat(a), flat(td), 1e-12, 1e-12, "GAE(0) vs TD errors");
  }
}

BOOST_AUTO_TEST_CASE(hand_computed_cases) {
  // One row: prompt of 1 token, response of 3 tokens; r = (1, 2, 3), V = (0.5, 1, 2).
  sequence_batch b(1, 4);
  b.prompt_length(0) = 1;
  b.length(0) = 4;
  token_values<double> r{{0, 1, 2, 3}}, v{{0, 0.5, 1, 2}};
  // gamma = 0.5: G = (1 + 0.5*2 + 0.25*3, 2 + 0.5*3, 3) = (2.75, 3.5, 3).
  const auto g = mdp::discounted_returns(r, b, 0.5);
  test::check_close(flat(g), {0, 2.75, 3.5, 3}, 1e-15, 0, "returns");
  // deltas: d2 = 3 - 2 = 1; d1 = 2 + 0.5*2 - 1 = 2; d0 = 1 + 0.5*1 - 0.5 = 1.
  // lambda = 0.5 (gamma lambda = 0.25): A2 = 1, A1 = 2 + 0.25 = 2.25, A0 = 1 + 0.25*2.25 = 1.5625.
  const auto a = mdp::gae(r, v, b, 0.5, 0.5);
  test::check_close(flat(a), {0, 1.5625, 2.25, 1}, 1e-15, 0, "GAE(0.5, 0.5)");
  BOOST_CHECK_THROW(mdp::gae(r, v, b, 1.5, 0.5), invalid_argument);
  BOOST_CHECK_THROW(mdp::gae(r, v, b, 0.5, -0.1), invalid_argument);
  // KL-penalised rewards, beta = 0.1: -0.1 (logp - ref) per token, + score on the last token.
  token_values<double> lp{{0, -1, -2, -0.5}}, ref{{0, -1.5, -1, -0.5}};
  sequence_values<double> score{4.0};
  const auto kr = mdp::kl_penalised_rewards(score, lp, ref, b, 0.1);
  test::check_close(flat(kr), {0, -0.05, 0.1, 4.0}, 1e-15, 0, "KL-penalised rewards");
}
