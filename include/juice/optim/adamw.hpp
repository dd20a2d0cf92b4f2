// juice/optim/adamw.hpp
//
// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019): Adam moments with
// bias correction and weight decay applied to the parameters directly, not through the gradient.
#pragma once

#include <cmath>
#include <cstddef>

#include "juice/core/parameter.hpp"
#include "juice/optim/gradient_descent.hpp"

namespace juice {

struct adamw_rule {
  using hyper_type = adamw_hyper;
  static constexpr std::size_t state_per_element = 2;  // first and second moments

  template <class B, class Param, class State>
  static void apply(B& b, Param& p, State& state, hyper_type h, std::size_t step) {
    h.bias_correction1 = 1 - std::pow(h.beta1, static_cast<double>(step));
    h.bias_correction2 = 1 - std::pow(h.beta2, static_cast<double>(step));
    using C = typename B::template const_view<typename Param::scalar_type>;
    b.adamw_update(p.value, C(p.grad), b.view_of(state[0]), b.view_of(state[1]), h);
  }
};

using adamw = gradient_descent<adamw_rule>;

}  // namespace juice
