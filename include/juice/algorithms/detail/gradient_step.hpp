// juice/algorithms/detail/gradient_step.hpp
//
// The update every algorithm makes once it has its loss weights: clear the gradients, run the
// model's backward pass (and any penalty), measure the gradient, refuse a non-finite one with a
// message naming the step, and let the optimizer step. The gradients are dead after the step (the
// next call clears them first), so an optimizer that can fuse clearing them into its update does
// (gradient_descent::step_and_zero_grad), and the next zero_grad() has nothing left to do.
#pragma once

#include <string>

#include "juice/optim/gradients.hpp"

namespace juice::detail {

// Returns the squared gradient norm before the optimizer step.
template <class M, class O, class Backward>
double gradient_step(M& model, O& opt, const std::string& where, Backward&& backward) {
  model.zero_grad();
  backward();
  const double gn = grad_norm_sq(model);
  check_finite(gn, "gradient norm", where);
  if constexpr (requires { opt.step_and_zero_grad(model); })
    opt.step_and_zero_grad(model);
  else
    opt.step(model);
  return gn;
}

}  // namespace juice::detail
