// juice/algorithms/detail/gradient_step.hpp
//
// The update every algorithm makes once it has its loss weights: clear the gradients, run the
// model's backward pass (and any penalty), measure the gradient, refuse a non-finite one with a
// message naming the step, and let the optimizer step.
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
  opt.step(model);
  return gn;
}

}  // namespace juice::detail
