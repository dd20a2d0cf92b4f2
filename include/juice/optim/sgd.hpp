// juice/optim/sgd.hpp
//
// Plain stochastic gradient descent with optional (coupled) weight decay:
// theta <- theta - lr * (grad + weight_decay * theta).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <utility>

#include "juice/core/parameter.hpp"
#include "juice/optim/gradient_descent.hpp"

namespace juice {

struct sgd_rule {
  using hyper_type = sgd_hyper;
  static constexpr std::string_view name = "sgd";
  static constexpr std::size_t state_per_element = 0;
  static constexpr std::array<std::string_view, 0> state_names{};
  // The hyper-parameters a checkpoint stores.
  static auto hyper_fields(hyper_type& h) {
    return std::array{std::pair<std::string_view, double*>{"lr", &h.lr},
                      std::pair<std::string_view, double*>{"weight_decay", &h.weight_decay}};
  }

  template <class B, class Param, class State>
  static void apply(B& b, Param& p, State&, const hyper_type& h, std::size_t /*step*/) {
    using C = typename B::template const_view<typename Param::scalar_type>;
    b.sgd_update(p.value, C(p.grad), h);
  }
};

using sgd = gradient_descent<sgd_rule>;

}  // namespace juice
