// PPO's pieces against values computed by hand on a two-step example (see the comments for the
// arithmetic), and the clipped objective's gradient against finite differences of itself.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "juice/algorithms/ppo/ppo.hpp"
#include "juice_test.hpp"
#include "model_support.hpp"

using namespace juice;
using namespace juice::test;

namespace {
// One row: prompt token at 0, response tokens at positions 1 and 2.
sequence_batch one_row() { return make_batch({{{0}, {1, 2}}}); }
token_values<double> row_values(double a, double b) {
  token_values<double> v = xt::zeros<double>({1, 3});
  v(0, 1) = a;
  v(0, 2) = b;
  return v;
}
}  // namespace

BOOST_AUTO_TEST_CASE(gae_on_kl_penalised_rewards_by_hand) {
  // beta = 0.5, log pi_old = (-1, -2), log pi_ref = (-1.5, -1), score 2, V = (0.5, 1), gamma 1, lambda 0.5.
  //   r_1 = -0.5 (-1 + 1.5) = -0.25;  r_2 = -0.5 (-2 + 1) + 2 = 2.5
  //   A_2 = r_2 - V_2 = 1.5;  delta_1 = r_1 + V_2 - V_1 = 0.25;  A_1 = 0.25 + 0.5 * 1.5 = 1.0
  //   R_1 = A_1 + V_1 = 1.5;  R_2 = A_2 + V_2 = 2.5
  const auto batch = one_row();
  sequence_values<double> score = {2.0};
  const auto [adv, ret] = ppo_advantages<double>(score, row_values(-1, -2), row_values(-1.5, -1), row_values(0.5, 1), batch,
                                                 0.5, 1.0, 0.5);
  BOOST_CHECK_CLOSE(adv(0, 1), 1.0, 1e-10);
  BOOST_CHECK_CLOSE(adv(0, 2), 1.5, 1e-10);
  BOOST_CHECK_CLOSE(ret(0, 1), 1.5, 1e-10);
  BOOST_CHECK_CLOSE(ret(0, 2), 2.5, 1e-10);
  BOOST_CHECK_EQUAL(adv(0, 0), 0.0);
  // With lambda = 1 the advantage is the return minus the value: G_1 = -0.25 + 2.5 = 2.25, A_1 = 1.75.
  const auto [adv1, ret1] = ppo_advantages<double>(score, row_values(-1, -2), row_values(-1.5, -1), row_values(0.5, 1), batch,
                                                   0.5, 1.0, 1.0);
  BOOST_CHECK_CLOSE(adv1(0, 1), 1.75, 1e-10);
  BOOST_CHECK_CLOSE(ret1(0, 1), 2.25, 1e-10);
}

BOOST_AUTO_TEST_CASE(clipped_objective_by_hand) {
  // eps = 0.2; token weights c = 1/2 each (one row, two tokens).
  //   token 1: A = 1,   rho = 1.5: terms -1.5 (unclipped), -1.2 (clipped) -> max -1.2, clipping binds, grad 0
  //   token 2: A = 1.5, rho = 0.5: terms -0.75, -1.2 -> max -0.75 unclipped, dL/dlogp = c (-A rho) = -0.375
  //   L = (-1.2 - 0.75) / 2 = -0.975; clipped fraction 1/2.
  const auto batch = one_row();
  const auto old = row_values(-1, -2);
  const auto logp = row_values(-1 + std::log(1.5), -2 + std::log(0.5));
  const auto adv = row_values(1.0, 1.5);
  token_values<double> w;
  double cf = 0;
  const double loss = ppo_clip_loss(batch, logp, old, adv, 0.2, &w, &cf);
  BOOST_CHECK_CLOSE(loss, -0.975, 1e-10);
  BOOST_CHECK_EQUAL(w(0, 1), 0.0);
  BOOST_CHECK_CLOSE(w(0, 2), -0.375, 1e-10);
  BOOST_CHECK_CLOSE(cf, 0.5, 1e-10);
  // Negative advantages: A = -1 with rho = 0.5: terms 0.5, 0.8 -> 0.8 clipped (grad 0);
  // rho = 1.5: terms 1.5, 1.2 -> 1.5 unclipped, grad c (-A rho) = 0.75.  L = (0.8 + 1.5) / 2 = 1.15.
  const auto logp2 = row_values(-1 + std::log(0.5), -2 + std::log(1.5));
  const double loss2 = ppo_clip_loss(batch, logp2, old, row_values(-1, -1), 0.2, &w);
  BOOST_CHECK_CLOSE(loss2, 1.15, 1e-10);
  BOOST_CHECK_EQUAL(w(0, 1), 0.0);
  BOOST_CHECK_CLOSE(w(0, 2), 0.75, 1e-10);
  // Inside the trust region the gradient is the finite difference of the loss.
  auto lp = row_values(-1.05, -1.95);
  ppo_clip_loss(batch, lp, old, adv, 0.2, &w);
  std::vector<double> x{lp(0, 1), lp(0, 2)};
  const auto fd = finite_difference<double>(std::span<double>(x), 1e-6, [&] {
    return ppo_clip_loss(batch, row_values(x[0], x[1]), old, adv, 0.2);
  });
  check_close({w(0, 1), w(0, 2)}, fd, 1e-8, 1e-6, "clip loss gradient");
}

BOOST_AUTO_TEST_CASE(value_loss_by_hand) {
  // value_coef 0.5, c = 1/2: L = 0.5 * (0.5 * 0.5 * (0.5-1.5)^2 + 0.5 * 0.5 * (1-2.5)^2) = 0.5 * (0.25 + 0.5625)
  //   = 0.40625; dL/dV = 0.5 * 0.5 * (V - R) = (-0.25, -0.375).
  token_values<double> w;
  const double loss = ppo_value_loss(one_row(), row_values(0.5, 1), row_values(1.5, 2.5), 0.5, &w);
  BOOST_CHECK_CLOSE(loss, 0.40625, 1e-10);
  BOOST_CHECK_CLOSE(w(0, 1), -0.25, 1e-10);
  BOOST_CHECK_CLOSE(w(0, 2), -0.375, 1e-10);
}
