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

  template <class Param, class State>
  static void apply(Param& p, State&, const hyper_type& h, std::size_t /*step*/) {
    using B = typename Param::backend_type;
    using S = typename Param::scalar_type;
    B::template sgd_update<S>(p.value, p.grad, h);
  }
};

using sgd = gradient_descent<sgd_rule>;

}  // namespace juice
