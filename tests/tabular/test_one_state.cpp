// The paper's one-state example (DESIGN.md "The paper's one-state example"): exact numbers from the
// closed form, RFT convergence to the regularised IRL optimum, SFT collapse, IRFT in between.
#include <algorithm>
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/experiments/one_state.hpp"
#include "juice_test.hpp"

using namespace juice;
using experiments::one_state_options;
using experiments::run_one_state;

namespace {
std::vector<double> row(const std::vector<experiments::one_state_row>& rows, const std::string& m) {
  for (const auto& r : rows)
    if (r.method == m) return r.pi;
  BOOST_FAIL("method " << m << " missing");
  return {};
}

// The stationarity condition of the regularised IRL problem, (p_D - pi_r) / beta = lambda r, with
// pi_r = pi_ref exp(r/beta) / Z: returns its largest violation for the policy pi it implies.
double stationarity_violation(const std::vector<double>& ref, const std::vector<double>& counts, double beta,
                              double lambda, const std::vector<double>& pi) {
  // r = beta (log pi - log pi_ref) + c for the c that makes sum_a (p_D - pi)_a / beta = lambda sum r
  // consistent: summing the condition over actions gives sum r = 0.
  const std::size_t A = ref.size();
  std::vector<double> r(A);
  double mean = 0;
  for (std::size_t a = 0; a < A; ++a) mean += (r[a] = beta * (std::log(pi[a]) - std::log(ref[a]))) / static_cast<double>(A);
  double n = 0;
  for (double c : counts) n += c;
  double worst = 0;
  for (std::size_t a = 0; a < A; ++a)
    worst = std::max(worst, std::abs((counts[a] / n - pi[a]) / beta - lambda * (r[a] - mean)));
  return worst;
}
}  // namespace

BOOST_AUTO_TEST_CASE(irl_optimum_equals_closed_form) {
  const auto rows = run_one_state(one_state_options{});
  const double u = test::one_state_u();
  const double z = std::exp(2 * u) + 2 * std::exp(-u);
  const std::vector<double> expected{std::exp(2 * u) / z, std::exp(-u) / z, std::exp(-u) / z};
  test::check_close(row(rows, "IRL-optimum"), expected, 1e-9, 0, "IRL optimum vs closed form");
  // The design brief's printed values (7 significant digits).
  test::check_close(row(rows, "IRL-optimum"), {0.5103358, 0.2448321, 0.2448321}, 5e-8, 0, "IRL optimum vs DESIGN.md");
  // The closed form's own identity: pi(a2) = u.
  BOOST_CHECK_SMALL(expected[1] - u, 1e-12);
}

BOOST_AUTO_TEST_CASE(irl_optimum_reward_is_2u_minus_u_minus_u) {
  using space = tabular::bandit_space;
  const space sp(1, 3);
  const std::vector<double> uni{1.0 / 3, 1.0 / 3, 1.0 / 3};
  const auto ref = tabular::policy<double, space>::from_probabilities(sp, uni);
  tabular::reward<double, space> r(sp);
  const auto demos = test::bandit_rows(std::vector<std::pair<int, int>>(10, {0, 0}));
  const auto iterations = tabular::solve_irl_optimum(ref, r, demos, {1.0, 1.0});
  BOOST_TEST_MESSAGE("Newton iterations: " << iterations);
  const double u = test::one_state_u();
  test::check_close({r.table()(0, 0), r.table()(0, 1), r.table()(0, 2)}, {2 * u, -u, -u}, 1e-9, 0, "optimal reward");
}

BOOST_AUTO_TEST_CASE(irl_optimum_satisfies_stationarity_for_other_parameters) {
  one_state_options o;
  o.reference = {0.5, 0.3, 0.2};
  o.counts = {6, 3, 1};
  o.beta = 0.5;
  o.lambda = 2.0;
  o.methods = {"IRL-optimum"};
  const auto pi = run_one_state(o)[0].pi;
  BOOST_CHECK_LT(stationarity_violation(o.reference, o.counts, o.beta, o.lambda, pi), 1e-9);
}

BOOST_AUTO_TEST_CASE(rft_converges_to_irl_optimum) {
  const auto rows = run_one_state(one_state_options{});
  test::check_close(row(rows, "RFT"), row(rows, "IRL-optimum"), 1e-6, 0, "RFT vs IRL optimum");
}

BOOST_AUTO_TEST_CASE(rft_converges_for_other_parameters_and_mirror_step) {
  one_state_options o;
  o.reference = {0.5, 0.3, 0.2};
  o.counts = {6, 3, 1};
  o.beta = 0.5;
  o.lambda = 2.0;
  o.rft_lr = 0.1;
  o.rft_iterations = 2000;
  o.methods = {"IRL-optimum", "RFT"};
  auto rows = run_one_state(o);
  test::check_close(rows[1].pi, rows[0].pi, 1e-6, 0, "RFT (exact step) vs IRL optimum");
  o.rft_policy_step = "mirror";
  o.rft_alpha = 0.5;
  rows = run_one_state(o);
  test::check_close(rows[1].pi, rows[0].pi, 1e-6, 0, "RFT (mirror step) vs IRL optimum");
}

BOOST_AUTO_TEST_CASE(sft_collapses_and_irft_lies_between) {
  const auto rows = run_one_state(one_state_options{});
  const auto sft = row(rows, "SFT"), irl = row(rows, "IRL-optimum"), irft = row(rows, "IRFT");
  BOOST_CHECK_GE(sft[0], 0.999);
  BOOST_CHECK_GT(irft[0], irl[0]);
  BOOST_CHECK_LT(irft[0], sft[0]);
  // IRL spreads probability: the unseen actions keep mass under IRFT and the IRL optimum.
  BOOST_CHECK_GT(irft[1], sft[1]);
  BOOST_CHECK_GT(irl[1], irft[1]);
}

BOOST_AUTO_TEST_CASE(every_irft_loss_follows_its_own_closed_form_dynamics) {
  // IRFT on one state with exact expectations, written out by hand: logits theta, pi = softmax(theta);
  // each round freezes pi_ref = pi and runs K SGD steps on
  //   L(theta) = sum_a pi_ref(a) h(z_a),  z_a = beta [(log pi(a1) - log pi_ref(a1)) - (log pi(a) - log pi_ref(a))],
  // whose gradient is sum_a pi_ref(a) h'(z_a) beta (e_1 - e_a) (the normaliser cancels in z).
  // Every demonstration is a1, so the round chunks do not matter. The step 0.23 keeps the hinge's
  // margins off its kink z = 1 (with the default 0.2 they land on it after five steps, where the
  // side floating point rounding picks decides the run).
  struct loss_case {
    const char* name;
    double (*dh)(double);
  };
  const loss_case cases[] = {
      {"sigmoid", [](double z) { return -1 / (1 + std::exp(z)); }},
      {"hinge", [](double z) { return z < 1 ? -1.0 : 0.0; }},
      {"linear", [](double) { return -1.0; }},
      {"ipo", [](double z) { return 2 * (z - 0.5); }},
  };
  one_state_options defaults;
  defaults.irft_lr = 0.23;
  for (const auto& c : cases) {
    std::vector<double> theta(3, 0.0);  // uniform pi_ref: equal logits
    auto softmax = [](const std::vector<double>& t) {
      const double m = std::max({t[0], t[1], t[2]});
      std::vector<double> p(3);
      double z = 0;
      for (std::size_t a = 0; a < 3; ++a) z += (p[a] = std::exp(t[a] - m));
      for (double& v : p) v /= z;
      return p;
    };
    for (std::size_t t = 0; t < defaults.irft_rounds; ++t) {
      const auto ref = softmax(theta);
      for (std::size_t k = 0; k < defaults.irft_steps; ++k) {
        const auto pi = softmax(theta);
        std::vector<double> grad(3, 0.0);
        for (std::size_t a = 1; a < 3; ++a) {
          const double z = defaults.beta * ((std::log(pi[0]) - std::log(ref[0])) - (std::log(pi[a]) - std::log(ref[a])));
          const double g = ref[a] * c.dh(z) * defaults.beta;
          grad[0] += g;
          grad[a] -= g;
        }
        for (std::size_t a = 0; a < 3; ++a) theta[a] -= defaults.irft_lr * grad[a];
      }
    }
    one_state_options o = defaults;
    o.methods = {"IRFT"};
    o.irft_loss = c.name;
    test::check_close(run_one_state(o)[0].pi, softmax(theta), 1e-12, 1e-10, std::string("IRFT ") + c.name);
  }
}

BOOST_AUTO_TEST_CASE(bad_options_are_rejected_with_a_sentence) {
  auto rejects = [](const one_state_options& o, const std::string& needle) {
    try {
      run_one_state(o);
      BOOST_ERROR("accepted bad options; expected: " << needle);
    } catch (const juice::invalid_argument& e) {
      BOOST_CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  one_state_options o;
  o.beta = -1;
  rejects(o, "beta must be positive");
  o = {};
  o.reference = {0.5, 0.4, 0.2};
  rejects(o, "sum to");
  o = {};
  o.methods = {"PPO"};
  rejects(o, "unknown method 'PPO'");
  o = {};
  o.counts = {1, 1};
  rejects(o, "demonstration counts for 3 actions");
  o = {};
  o.irft_loss = "squared";
  rejects(o, "unknown IRFT loss");
}
