// algorithms/losses and the algorithms' loss functions: every margin loss h and its derivative,
// and the gradients of the SFT, IRFT and RFT losses and of l(theta) with respect to model
// parameters, all against central finite differences; float and double with per-type tolerances.
#include <cmath>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/losses/pairwise.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/objectives/irl_likelihood.hpp"
#include "juice_test.hpp"

using namespace juice;
using scalars = std::tuple<float, double>;
using space = tabular::bandit_space;

namespace {

template <class L>
void check_derivative() {
  for (double z : {-30.0, -3.0, -0.7, 0.0, 0.3, 0.9, 2.5, 40.0}) {
    if constexpr (std::is_same_v<L, hinge_loss>)
      if (std::abs(z - 1) < 1e-3) continue;  // the kink
    const double h = 1e-6;
    const double fd = (L::value(z + h) - L::value(z - h)) / (2 * h);
    BOOST_CHECK_MESSAGE(std::abs(fd - L::derivative(z)) < 1e-6 * (1 + std::abs(L::value(z))), L::name << " at z = " << z << ": " << L::derivative(z) << " vs " << fd);
    BOOST_CHECK(std::isfinite(L::value(z)));
  }
  BOOST_CHECK_MESSAGE(L::derivative(0) < 0, L::name << ": h'(0) must be negative");
}

// A random tabular policy on 2 prompts x 4 actions.
template <class S>
tabular::policy<S, space> random_policy(std::uint64_t seed) {
  tabular::policy<S, space> p(space(2, 4));
  rng g(seed);
  for (auto& v : std::span(p.parameters()[0].value)) v = static_cast<S>(2 * g.uniform() - 1);
  return p;
}

sequence_batch pairs_chosen() { return test::bandit_rows({{0, 0}, {1, 2}, {0, 1}}); }
sequence_batch pairs_rejected() { return test::bandit_rows({{0, 3}, {1, 1}, {0, 1}}); }

}  // namespace

BOOST_AUTO_TEST_CASE(margin_loss_derivatives) {
  check_derivative<sigmoid_loss>();
  check_derivative<hinge_loss>();
  check_derivative<linear_loss>();
  check_derivative<ipo_loss>();
}

BOOST_AUTO_TEST_CASE(margin_loss_values) {
  BOOST_CHECK_CLOSE(sigmoid_loss::value(0), std::log(2.0), 1e-12);
  BOOST_CHECK_CLOSE(sigmoid_loss::value(-50), 50.0, 1e-12);  // no overflow
  BOOST_CHECK_SMALL(sigmoid_loss::value(50), 1e-20);
  BOOST_CHECK_EQUAL(hinge_loss::value(0.25), 0.75);
  BOOST_CHECK_EQUAL(hinge_loss::value(3), 0);
  BOOST_CHECK_EQUAL(linear_loss::value(2), -2);
  BOOST_CHECK_EQUAL(ipo_loss::value(0), 0.25);
  BOOST_CHECK_CLOSE(sigmoid_loss::derivative(0), -0.5, 1e-12);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(sft_loss_gradient, S, scalars) {
  for (auto norm : {sft_normalisation::sequence_sum, sft_normalisation::token_mean}) {
    auto pi = random_policy<S>(1);
    auto batch = test::bandit_rows({{0, 1}, {1, 3}, {1, 0}});
    batch.weight(0) = 0.5;
    batch.weight(1) = 0.3;
    batch.weight(2) = 0.2;
    token_values<S> w;
    sft_loss(batch, pi.logprobs(batch), norm, &w);
    pi.zero_grad();
    pi.backward(batch, w);
    const auto grad = test::to_vector<S>(pi.parameters()[0].grad);
    const auto fd = test::finite_difference<S>(pi.parameters()[0].value, test::tolerance<S>::fd_step,
                                               [&] { return sft_loss(batch, pi.logprobs(batch), norm); });
    test::check_close(grad, fd, test::tolerance<S>::fd_atol, test::tolerance<S>::fd_rtol, "sft loss gradient");
  }
}

template <class L, class S>
void check_irft_gradient() {
  auto pi = random_policy<S>(2);
  const auto ref_policy = random_policy<S>(3);
  pair_batch pairs{pairs_chosen(), pairs_rejected(), xt::xtensor<double, 1>{0.5, 0.3, 0.2}};
  const auto both = concat_rows(pairs.chosen, pairs.rejected);
  const auto ref_seq = sequence_sum(ref_policy.logprobs(both), both);
  const std::vector<double> ref(ref_seq.begin(), ref_seq.end());
  const double beta = 0.7;
  token_values<S> w;
  irft_loss<L>(pairs, both, pi.logprobs(both), ref, beta, &w);
  pi.zero_grad();
  pi.backward(both, w);
  const auto grad = test::to_vector<S>(pi.parameters()[0].grad);
  const auto fd = test::finite_difference<S>(pi.parameters()[0].value, test::tolerance<S>::fd_step,
                                             [&] { return irft_loss<L>(pairs, both, pi.logprobs(both), ref, beta); });
  test::check_close(grad, fd, test::tolerance<S>::fd_atol, test::tolerance<S>::fd_rtol,
                    std::string("irft ") + std::string(L::name) + " gradient");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(irft_loss_gradients, S, scalars) {
  check_irft_gradient<sigmoid_loss, S>();
  check_irft_gradient<hinge_loss, S>();
  check_irft_gradient<linear_loss, S>();
  check_irft_gradient<ipo_loss, S>();
}

template <class L, class R>
void check_rft_gradient(R& r, double scale, double lambda) {
  using S = typename R::scalar_type;
  pair_batch pairs{pairs_chosen(), pairs_rejected(), xt::xtensor<double, 1>{0.5, 0.3, 0.2}};
  const auto both = concat_rows(pairs.chosen, pairs.rejected);
  auto loss = [&] { return rft_reward_loss<L>(pairs, r.rewards(both), scale) + l2_penalty(r, lambda); };
  sequence_values<S> w;
  rft_reward_loss<L>(pairs, r.rewards(both), scale, &w);
  r.zero_grad();
  r.backward(both, w);
  add_l2_gradient(r, lambda);
  const auto grad = test::to_vector<S>(r.parameters()[0].grad);
  const auto fd = test::finite_difference<S>(r.parameters()[0].value, test::tolerance<S>::fd_step, loss);
  test::check_close(grad, fd, test::tolerance<S>::fd_atol, test::tolerance<S>::fd_rtol,
                    std::string("rft ") + std::string(L::name) + " gradient");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rft_reward_loss_gradients, S, scalars) {
  const space sp(2, 4);
  tabular::reward<S, space> r(sp);
  rng g(9);
  for (auto& v : std::span(r.parameters()[0].value)) v = static_cast<S>(g.uniform() - 0.5);
  check_rft_gradient<linear_loss>(r, 1 / 0.7, 0.3);  // linear: scale 1/beta
  check_rft_gradient<logistic_loss>(r, 1.0, 0.3);    // logistic (Bradley-Terry)

  typename tabular::linear_reward<S, space>::matrix phi(8, 3);
  for (Eigen::Index i = 0; i < phi.size(); ++i) phi.data()[i] = static_cast<S>(g.uniform() - 0.5);
  tabular::linear_reward<S, space> lr(sp, phi);
  for (auto& v : std::span(lr.parameters()[0].value)) v = static_cast<S>(g.uniform() - 0.5);
  check_rft_gradient<linear_loss>(lr, 1 / 0.7, 0.0);
  check_rft_gradient<logistic_loss>(lr, 1.0, 1.5);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(irl_log_likelihood_gradient, S, scalars) {
  const space sp(2, 4);
  const auto ref = random_policy<S>(4);
  tabular::reward<S, space> r(sp);
  rng g(11);
  for (auto& v : std::span(r.parameters()[0].value)) v = static_cast<S>(g.uniform() - 0.5);
  const auto demos = test::bandit_rows({{0, 0}, {0, 2}, {1, 3}, {0, 0}});
  const irl_likelihood_options o{0.8, false};
  r.zero_grad();
  irl_log_likelihood(ref, r, demos, {0.8, true});
  const auto grad = test::to_vector<S>(r.parameters()[0].grad);
  const auto fd = test::finite_difference<S>(r.parameters()[0].value, test::tolerance<S>::fd_step,
                                             [&] { return irl_log_likelihood(ref, r, demos, o); });
  test::check_close(grad, fd, test::tolerance<S>::fd_atol, test::tolerance<S>::fd_rtol, "grad l(theta)");
}

BOOST_AUTO_TEST_CASE(irl_log_likelihood_at_zero_reward_is_reference_likelihood) {
  // With r = 0, pi_theta = pi_ref and l = E_D log pi_ref(y|x).
  const space sp(1, 3);
  const std::vector<double> p{0.5, 0.3, 0.2};
  const auto ref = tabular::policy<double, space>::from_probabilities(sp, p);
  tabular::reward<double, space> r(sp);
  const auto demos = test::bandit_rows({{0, 0}, {0, 1}, {0, 1}, {0, 2}});
  const double expect = (std::log(0.5) + 2 * std::log(0.3) + std::log(0.2)) / 4;
  BOOST_CHECK_CLOSE(irl_log_likelihood(ref, r, demos, {2.0, false}), expect, 1e-10);
}

BOOST_AUTO_TEST_CASE(rft_linear_loss_gradient_in_exact_mode_is_minus_grad_l) {
  // With pi = pi_theta (exact policy step) and y~ enumerated, the linear reward loss's gradient
  // is exactly -grad l(theta): the unbiasedness the paper's Algorithm 1 relies on.
  const space sp(2, 4);
  const auto ref = random_policy<double>(5);
  tabular::reward<double, space> r(sp);
  rng g(12);
  for (auto& v : std::span(r.parameters()[0].value)) v = g.uniform() - 0.5;
  const double beta = 0.6;
  auto pi = ref.snapshot();
  auto demos = test::bandit_rows({{0, 1}, {1, 2}, {1, 2}, {0, 3}});
  tabular::exact_policy_step{}.improve(pi, ref, r, prompts_of(demos), beta, g);

  normalise_weights(demos);
  const auto pairs = make_pairs(demos, pi.enumerate(prompts_of(demos)));
  const auto both = concat_rows(pairs.chosen, pairs.rejected);
  sequence_values<double> w;
  rft_reward_loss<linear_loss>(pairs, r.rewards(both), 1 / beta, &w);
  r.zero_grad();
  r.backward(both, w);
  const auto loss_grad = test::to_vector<double>(r.parameters()[0].grad);
  r.zero_grad();
  irl_log_likelihood(ref, r, demos, {beta, true});
  auto grad_l = test::to_vector<double>(r.parameters()[0].grad);
  for (double& v : grad_l) v = -v;
  test::check_close(loss_grad, grad_l, 1e-12, 1e-10, "linear loss gradient vs -grad l");
}
