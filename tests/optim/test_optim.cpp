// optim/: SGD and AdamW updates against their defining formulas, schedules, gradient utilities.
#include <array>
#include <cmath>
#include <span>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "juice/backends/host/host.hpp"
#include "juice/concepts/optimizer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "juice/optim/lr_schedule.hpp"
#include "juice/optim/sgd.hpp"
#include "juice_test.hpp"

using namespace juice;

namespace {
// A two-tensor model on the host: enough to exercise every optimizer path.
template <class S>
struct toy_model {
  using scalar_type = S;
  using backend_type = host;
  std::vector<S> a{1, -2, 3}, ga{0.5, 0.25, -1}, b{4}, gb{2};
  std::array<parameter<host, S>, 2> parameters() {
    return {parameter<host, S>{"a", std::span<S>(a), std::span<S>(ga)},
            parameter<host, S>{"b", std::span<S>(b), std::span<S>(gb)}};
  }
  void zero_grad() {
    std::fill(ga.begin(), ga.end(), S(0));
    std::fill(gb.begin(), gb.end(), S(0));
  }
};
static_assert(Parameterised<toy_model<double>>);
static_assert(Optimizer<sgd, toy_model<double>> && Optimizer<adamw, toy_model<float>>);
}  // namespace

using scalars = std::tuple<float, double>;

BOOST_AUTO_TEST_CASE_TEMPLATE(sgd_matches_formula, S, scalars) {
  toy_model<S> m;
  sgd opt(sgd_hyper{0.1, 0.01});
  opt.step(m);
  const std::vector<double> expect{1 - 0.1 * (0.5 + 0.01 * 1), -2 - 0.1 * (0.25 + 0.01 * -2), 3 - 0.1 * (-1 + 0.01 * 3)};
  test::check_close(test::to_vector<S>(m.a), expect, test::tolerance<S>::exact, 0, "sgd a");
  BOOST_CHECK_CLOSE(static_cast<double>(m.b[0]), 4 - 0.1 * (2 + 0.04), 1e-4);
  BOOST_CHECK_EQUAL(opt.steps(), 1u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(adamw_matches_formula_over_two_steps, S, scalars) {
  toy_model<S> m;
  const adamw_hyper h{0.01, 0.9, 0.99, 1e-8, 0.1};
  adamw opt(h);
  // Reference computed here from the AdamW definition, element by element, in double.
  std::vector<double> x{1, -2, 3}, mm(3, 0), vv(3, 0);
  const std::vector<std::vector<double>> grads{{0.5, 0.25, -1}, {-0.3, 0.1, 0.2}};
  for (int t = 1; t <= 2; ++t) {
    const auto& g = grads[static_cast<std::size_t>(t - 1)];
    for (std::size_t i = 0; i < 3; ++i) {
      mm[i] = 0.9 * mm[i] + 0.1 * g[i];
      vv[i] = 0.99 * vv[i] + 0.01 * g[i] * g[i];
      const double mh = mm[i] / (1 - std::pow(0.9, t)), vh = vv[i] / (1 - std::pow(0.99, t));
      x[i] -= 0.01 * (mh / (std::sqrt(vh) + 1e-8) + 0.1 * x[i]);
    }
    for (std::size_t i = 0; i < 3; ++i) m.ga[i] = static_cast<S>(g[i]);
    opt.step(m);
  }
  test::check_close(test::to_vector<S>(m.a), x, 10 * test::tolerance<S>::exact, 0, "adamw a");
}

BOOST_AUTO_TEST_CASE(schedule_scales_the_learning_rate) {
  toy_model<double> m;
  sgd opt(sgd_hyper{1.0});
  opt.schedule([](std::size_t step) { return step == 0 ? 0.5 : 0.0; });
  opt.step(m);
  BOOST_CHECK_CLOSE(m.a[0], 1 - 0.5 * 0.5, 1e-12);
  opt.step(m);  // multiplier 0: no change
  BOOST_CHECK_CLOSE(m.a[0], 0.75, 1e-12);
}

BOOST_AUTO_TEST_CASE(warmup_schedule_values_follow_their_formulas) {
  // Warm-up of 4 over 10 steps: (s + 1) / 4 for s < 4; after it p = (s - 4) / 6.
  const auto c = warmup_schedule(4, 10);
  BOOST_CHECK_CLOSE(c(0), 0.25, 1e-12);
  BOOST_CHECK_CLOSE(c(2), 0.75, 1e-12);
  BOOST_CHECK_CLOSE(c(3), 1.0, 1e-12);
  BOOST_CHECK_CLOSE(c(9), 1.0, 1e-12);
  const auto l = warmup_schedule(4, 10, lr_decay::linear);
  BOOST_CHECK_CLOSE(l(4), 1.0, 1e-12);
  BOOST_CHECK_CLOSE(l(7), 0.5, 1e-12);
  BOOST_CHECK_SMALL(l(10), 1e-15);
  const auto k = warmup_schedule(4, 10, lr_decay::cosine);
  BOOST_CHECK_CLOSE(k(5), 0.5 + std::sqrt(3.0) / 4, 1e-12);  // p = 1/6: (1 + cos(pi/6)) / 2
  BOOST_CHECK_CLOSE(k(7), 0.5, 1e-10);                       // p = 1/2
  BOOST_CHECK_SMALL(k(10), 1e-15);
  BOOST_CHECK_CLOSE(warmup_schedule(0, 10)(0), 1.0, 1e-12);  // no warm-up
  BOOST_CHECK_THROW(warmup_schedule(11, 10), invalid_argument);
  // Through an optimizer: the first SGD step is lr / 4.
  toy_model<double> m;
  sgd opt(sgd_hyper{1.0});
  opt.schedule(warmup_schedule(4, 10));
  opt.step(m);
  BOOST_CHECK_CLOSE(m.a[0], 1 - 0.25 * 0.5, 1e-12);
}

BOOST_AUTO_TEST_CASE(gradient_utilities) {
  toy_model<double> m;
  BOOST_CHECK_CLOSE(grad_norm_sq(m), 0.25 + 0.0625 + 1 + 4, 1e-12);
  BOOST_CHECK_CLOSE(l2_penalty(m, 2.0), 1 + 4 + 9 + 16, 1e-12);
  add_l2_gradient(m, 0.5);
  BOOST_CHECK_CLOSE(m.ga[1], 0.25 + 0.5 * -2, 1e-12);
  m = toy_model<double>{};
  const double before = clip_grad_norm(m, 1.0);
  BOOST_CHECK_CLOSE(before, std::sqrt(5.3125), 1e-12);
  BOOST_CHECK_CLOSE(grad_norm_sq(m), 1.0, 1e-10);
  BOOST_CHECK_THROW(check_finite(std::nan(""), "loss", "step 3"), numerical_error);
  BOOST_CHECK_NO_THROW(check_finite(1e308, "loss", "step 3"));
  BOOST_CHECK_EXCEPTION(check_finite(INFINITY, "loss", "juice::sft step 3"), numerical_error, [](const numerical_error& e) {
    return std::string(e.what()).find("juice::sft step 3: the loss is infinite") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(optimizer_rejects_a_model_that_changed_shape) {
  toy_model<double> m;
  adamw opt;
  opt.step(m);
  m.a.push_back(0);
  m.ga.push_back(0);
  BOOST_CHECK_THROW(opt.step(m), invalid_argument);
}
