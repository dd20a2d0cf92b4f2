// juice/optim/sgd.hpp
//
// Plain stochastic gradient descent with optional (coupled) weight decay:
// theta <- theta - lr * (grad + weight_decay * theta).
#pragma once

#include <cstddef>

#include "juice/core/parameter.hpp"
#include "juice/optim/gradient_descent.hpp"

namespace juice {

struct sgd_rule {
  using hyper_type = sgd_hyper;
  static constexpr std::size_t state_per_element = 0;

  template <class B, class Param, class State>
  static void apply(B& b, Param& p, State&, const hyper_type& h, std::size_t /*step*/) {
    using C = typename B::template const_view<typename Param::scalar_type>;
    b.sgd_update(p.value, C(p.grad), h);
  }
};

using sgd = gradient_descent<sgd_rule>;

}  // namespace juice
