// juice/optim/adamw.hpp
//
// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019): Adam moments with
// bias correction and weight decay applied to the parameters directly, not through the gradient.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <utility>

#include "juice/core/parameter.hpp"
#include "juice/optim/gradient_descent.hpp"

namespace juice {

struct adamw_rule {
  using hyper_type = adamw_hyper;
  static constexpr std::string_view name = "adamw";
  static constexpr std::size_t state_per_element = 2;  // first and second moments
  // Names of the state slots in a checkpoint (PyTorch's names for the same moments).
  static constexpr std::array<std::string_view, 2> state_names{"exp_avg", "exp_avg_sq"};
  // The hyper-parameters a checkpoint stores (the bias corrections are recomputed every step).
  static auto hyper_fields(hyper_type& h) {
    return std::array{std::pair<std::string_view, double*>{"lr", &h.lr}, std::pair<std::string_view, double*>{"beta1", &h.beta1},
                      std::pair<std::string_view, double*>{"beta2", &h.beta2}, std::pair<std::string_view, double*>{"eps", &h.eps},
                      std::pair<std::string_view, double*>{"weight_decay", &h.weight_decay}};
  }

  template <class B, class Param, class State>
  static void apply(B& b, Param& p, State& state, hyper_type h, std::size_t step) {
    h.bias_correction1 = 1 - std::pow(h.beta1, static_cast<double>(step));
    h.bias_correction2 = 1 - std::pow(h.beta2, static_cast<double>(step));
    using C = typename B::template const_view<typename Param::scalar_type>;
    b.adamw_update(p.value, C(p.grad), b.view_of(state[0]), b.view_of(state[1]), h);
  }

  // The same update, leaving the gradient zero (gradient_descent::step_and_zero_grad): one pass
  // through the backend's optional fused primitive adamw_update_and_zero(value, grad, m, v, hyper)
  // where it has one, else the update and a fill.
  template <class B, class Param, class State>
  static void apply_and_zero(B& b, Param& p, State& state, hyper_type h, std::size_t step) {
    if constexpr (requires { b.adamw_update_and_zero(p.value, p.grad, b.view_of(state[0]), b.view_of(state[1]), h); }) {
      h.bias_correction1 = 1 - std::pow(h.beta1, static_cast<double>(step));
      h.bias_correction2 = 1 - std::pow(h.beta2, static_cast<double>(step));
      b.adamw_update_and_zero(p.value, p.grad, b.view_of(state[0]), b.view_of(state[1]), h);
    } else {
      apply(b, p, state, h, step);
      b.fill(p.grad, typename Param::scalar_type(0));
    }
  }
};

using adamw = gradient_descent<adamw_rule>;

}  // namespace juice
