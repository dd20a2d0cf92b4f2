// optim/: an optimizer's state belongs to one model. Two models of the same shape stepped by one
// optimizer would silently share AdamW moments; juice refuses the second model instead. Copies
// of an optimizer copy its state, and a flat model is updated in one fused call that equals the
// per-tensor update.
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "two_tensor_model.hpp"
#include "juice/backends/host/host.hpp"
#include "juice/core/error.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "juice/optim/sgd.hpp"

using namespace juice;

namespace {
template <bool Flat>
using model = juice::test::two_tensor_model<Flat>;
}  // namespace

BOOST_AUTO_TEST_CASE(one_optimizer_refuses_a_second_model_of_the_same_shape) {
  model<false> a, b;
  adamw opt(adamw_hyper{0.1});
  opt.step(a);
  try {
    opt.step(b);
    BOOST_FAIL("stepping a second model with the same optimizer must throw");
  } catch (const invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("already holds the state of another model") != std::string::npos);
  }
  // b was left untouched by the refused step.
  BOOST_TEST(b.value == (std::vector<double>{1, -2, 3, 4}));
  // After reset() the optimizer starts afresh on b: its first AdamW step moves each element by
  // lr * sign(grad) (bias-corrected m/sqrt(v) = g/|g| up to eps).
  opt.reset();
  opt.step(b);
  const std::vector<double> expected{1 - 0.1, -2 - 0.1, 3 + 0.1, 4 - 0.1};
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(b.value[i] == expected[i], boost::test_tools::tolerance(1e-7));
}

BOOST_AUTO_TEST_CASE(sgd_keeps_no_per_model_state_and_may_serve_two_models) {
  model<false> a, b;
  sgd opt(sgd_hyper{0.5});
  opt.step(a);
  opt.step(b);  // no moments to mix
  BOOST_TEST(a.value == b.value);
  BOOST_TEST(a.value[0] == 1 - 0.5 * 0.5);
}

BOOST_AUTO_TEST_CASE(a_copied_optimizer_carries_its_moments) {
  model<false> a;
  a.grad = {0.5, -0.25, 1, 2};
  adamw opt(adamw_hyper{0.1});
  opt.step(a);
  const std::vector<double> after_one = a.value;
  adamw copy = opt;  // the same moments and step count, bound to the same model
  BOOST_TEST(copy.steps() == 1u);
  a.grad = {-1, 0.5, 0.25, 0.5};
  opt.step(a);
  const std::vector<double> after_two = a.value;
  // Replaying the second step with the copy from the same point gives the same parameters; a
  // fresh optimizer (no moments, step 1) would not.
  a.value = after_one;
  copy.step(a);
  BOOST_TEST(a.value == after_two);
  a.value = after_one;
  adamw fresh(adamw_hyper{0.1});
  fresh.step(a);
  BOOST_TEST(a.value != after_two);
}

BOOST_AUTO_TEST_CASE(a_flat_model_is_updated_in_one_call_equal_to_the_per_tensor_update) {
  model<false> per_tensor;
  model<true> flat;
  adamw o1(adamw_hyper{0.05}), o2(adamw_hyper{0.05});
  for (int k = 0; k < 3; ++k) {
    o1.step(per_tensor);
    o2.step(flat);
  }
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(per_tensor.value[i] == flat.value[i]);
  // The gradient helpers see the same numbers through the block.
  BOOST_TEST(grad_norm_sq(flat) == 0.25 + 0.0625 + 1 + 4, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(clip_grad_norm(flat, 1.0) == std::sqrt(5.3125), boost::test_tools::tolerance(1e-15));
  BOOST_TEST(grad_norm_sq(flat) == 1.0, boost::test_tools::tolerance(1e-12));
}
