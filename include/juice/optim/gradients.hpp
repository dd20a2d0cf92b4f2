// juice/optim/gradients.hpp
//
// Whole-model gradient utilities through the Backend primitives: squared norm, clipping, an L2
// penalty's gradient, and a finiteness check that names the step. On a FlatParameterised model each
// is one backend call over the whole parameter block (one host synchronisation for a norm).
#pragma once

#include <cmath>
#include <string>

#include "juice/concepts/parameterised.hpp"
#include "juice/core/error.hpp"

namespace juice {

// sum over all parameters of ||grad||^2.
template <Parameterised M>
double grad_norm_sq(M& model) {
  using C = typename M::backend_type::template const_view<typename M::scalar_type>;
  auto b = backend_of(model);
  double s = 0;
  for (auto& p : parameter_groups(model)) s += b.dot(C(p.grad), C(p.grad));
  return s;
}

// Scales all gradients by min(1, max_norm / ||grad||); returns the norm before clipping.
template <Parameterised M>
double clip_grad_norm(M& model, double max_norm) {
  using S = typename M::scalar_type;
  const double norm = std::sqrt(grad_norm_sq(model));
  if (norm > max_norm && norm > 0) {
    auto b = backend_of(model);
    for (auto& p : parameter_groups(model)) b.scale(p.grad, static_cast<S>(max_norm / norm));
  }
  return norm;
}

// Adds the gradient of (lambda/2) ||theta||^2, i.e. lambda * theta, to the gradients.
template <Parameterised M>
void add_l2_gradient(M& model, double lambda) {
  using B = typename M::backend_type;
  using S = typename M::scalar_type;
  if (lambda == 0) return;
  auto b = backend_of(model);
  for (auto& p : parameter_groups(model))
    b.axpy(static_cast<S>(lambda), typename B::template const_view<S>(p.value), p.grad);
}

// (lambda/2) ||theta||^2.
template <Parameterised M>
double l2_penalty(M& model, double lambda) {
  using C = typename M::backend_type::template const_view<typename M::scalar_type>;
  auto b = backend_of(model);
  double s = 0;
  for (auto& p : parameter_groups(model)) s += b.dot(C(p.value), C(p.value));
  return 0.5 * lambda * s;
}

// Throws juice::numerical_error naming `where` if the value is NaN or infinite.
inline void check_finite(double value, const char* what, const std::string& where) {
  if (!std::isfinite(value))
    throw numerical_error(where + ": the " + what + " is " + (std::isnan(value) ? "NaN" : "infinite") +
                          "; lower the learning rate or check the data.");
}

}  // namespace juice
