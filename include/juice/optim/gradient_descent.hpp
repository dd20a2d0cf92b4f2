// juice/optim/gradient_descent.hpp
//
// gradient_descent<Rule>: the one optimizer template. A Rule owns the per-element update (through a
// Backend primitive) and says how much state it keeps per parameter element; the template owns that
// state, the step count and an optional learning-rate schedule. juice::sgd and juice::adamw are
// aliases (the pattern of ensmallen's AdamType<UpdateRule>).
#pragma once

#include <cstddef>
#include <any>
#include <functional>
#include <string>
#include <vector>

#include "juice/concepts/parameterised.hpp"
#include "juice/core/error.hpp"

namespace juice {

template <class Rule>
class gradient_descent {
public:
  using rule_type = Rule;
  using hyper_type = typename Rule::hyper_type;

  explicit gradient_descent(hyper_type hyper = {}) : hyper_(hyper) {}

  // A multiplier of the learning rate as a function of the step number (0-based); empty = constant.
  gradient_descent& schedule(std::function<double(std::size_t)> s) {
    schedule_ = std::move(s);
    return *this;
  }

  // The hyper-parameters (learning rate, ...), editable between steps.
  hyper_type& hyper() { return hyper_; }
  // Number of steps taken so far.
  [[nodiscard]] std::size_t steps() const { return steps_; }

  // One update of every parameter of `model` from its gradient.
  template <Parameterised M>
  void step(M& model) {
    using B = typename M::backend_type;
    using S = typename M::scalar_type;
    auto params = model.parameters();
    auto& state = state_for<B, S>();
    std::size_t i = 0;
    for (auto& p : params) {
      if (i == state.size()) {
        state.emplace_back();
        for (std::size_t k = 0; k < Rule::state_per_element; ++k)
          state.back().push_back(B::template allocate<S>(p.value.size()));
      }
      if (state[i].empty() ? false : state[i][0].size() != p.value.size())
        throw invalid_argument("juice::gradient_descent::step: parameter '" + p.name +
                               "' changed size since the optimizer's first step; use a new optimizer per model.");
      hyper_type h = hyper_;
      if (schedule_) h.lr *= schedule_(steps_);
      Rule::apply(p, state[i], h, steps_ + 1);
      ++i;
    }
    ++steps_;
  }

private:
  template <class B, class S>
  auto& state_for() {
    using buffers = std::vector<std::vector<typename B::template buffer<S>>>;
    if (!state_.has_value()) state_ = buffers{};
    auto* s = std::any_cast<buffers>(&state_);
    if (!s) throw invalid_argument("juice::gradient_descent::step: one optimizer instance was used with models of different backends or scalar types.");
    return *s;
  }

  hyper_type hyper_;
  std::function<double(std::size_t)> schedule_;
  std::size_t steps_ = 0;
  std::any state_;
};

}  // namespace juice
