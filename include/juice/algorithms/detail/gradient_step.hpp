// juice/algorithms/detail/gradient_step.hpp
//
// The update every algorithm makes once it has its loss and its weights: clear the gradients, run
// the model's backward pass (and any penalty), measure the gradient, refuse a non-finite loss or
// gradient norm with a message naming the step, and let the optimizer step. The refusal comes after
// the backward pass and goes through juice::check_finite_everywhere: under a data-parallel
// optimizer every rank must reach it, so that all stop together (juice/optim/data_parallel.hpp).
#pragma once

#include <string>
#include <utility>

#include "juice/optim/data_parallel.hpp"
#include "juice/optim/gradients.hpp"

namespace juice::detail {

// Returns the squared gradient norm before the optimizer step. `loss_what` names the loss in the
// error ("loss", "reward loss").
template <class M, class O, class Backward>
double gradient_step(M& model, O& opt, double loss, const char* loss_what, const std::string& where, Backward&& backward) {
  model.zero_grad();
  backward();
  const double gn = grad_norm_sq(model);
  check_finite_everywhere(opt, {{loss_what, loss}, {"gradient norm", gn}}, where);
  opt.step(model);
  return gn;
}

// The same for a caller that has checked its loss already: only the gradient norm is refused.
template <class M, class O, class Backward>
double gradient_step(M& model, O& opt, const std::string& where, Backward&& backward) {
  return gradient_step(model, opt, 0.0, "loss", where, std::forward<Backward>(backward));
}

}  // namespace juice::detail
