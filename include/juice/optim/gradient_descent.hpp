// juice/optim/gradient_descent.hpp
//
// gradient_descent<Rule>: the one optimizer template. A Rule owns the per-element update (through a
// Backend primitive) and says how much state it keeps per parameter element; the template owns that
// state, the step count and an optional learning-rate schedule. juice::sgd and juice::adamw are
// aliases (the pattern of ensmallen's AdamType<UpdateRule>). Per-element state belongs to one
// model: the first model stepped binds an AdamW optimizer, and stepping another model (even one of
// the same shape, whose moments would silently mix) is refused until reset(); SGD keeps no such
// state and may serve several models. On a FlatParameterised model the update is
// one backend call over the whole parameter block.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
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
  gradient_descent(const gradient_descent& o)
      : hyper_(o.hyper_), schedule_(o.schedule_), steps_(o.steps_), state_(o.state_ ? o.state_->clone() : nullptr),
        owner_(o.owner_) {}
  gradient_descent& operator=(const gradient_descent& o) {
    if (this != &o) *this = gradient_descent(o);
    return *this;
  }
  gradient_descent(gradient_descent&&) noexcept = default;
  gradient_descent& operator=(gradient_descent&&) noexcept = default;

  // A multiplier of the learning rate as a function of the step number (0-based); empty = constant.
  gradient_descent& schedule(std::function<double(std::size_t)> s) {
    schedule_ = std::move(s);
    return *this;
  }

  // The hyper-parameters (learning rate, ...), editable between steps.
  hyper_type& hyper() { return hyper_; }
  // Number of steps taken so far.
  [[nodiscard]] std::size_t steps() const { return steps_; }

  // Forgets the state (moments, step count and the bound model): the next step() starts afresh.
  void reset() {
    state_.reset();
    owner_ = nullptr;
    steps_ = 0;
  }

  // One update of every parameter of `model` from its gradient.
  template <Parameterised M>
  void step(M& model) {
    using B = typename M::backend_type;
    using S = typename M::scalar_type;
    // Only state that is per element (AdamW's moments) binds the optimizer to one model: a
    // stateless rule (SGD) may serve several models.
    if (Rule::state_per_element > 0 && owner_ && owner_ != static_cast<const void*>(&model))
      throw invalid_argument(
          "juice::gradient_descent::step: this optimizer already holds the state of another model; "
          "use one optimizer per model (or reset() it).");
    auto b = backend_of(model);
    auto params = parameter_groups(model);
    auto& state = state_for<B, S>();
    owner_ = &model;
    std::size_t i = 0;
    for (auto& p : params) {
      if (i == state.size()) {
        state.emplace_back();
        for (std::size_t k = 0; k < Rule::state_per_element; ++k)
          state.back().push_back(b.template allocate<S>(p.value.size()));
      }
      if (state[i].empty() ? false : state[i][0].size() != p.value.size())
        throw invalid_argument("juice::gradient_descent::step: parameter '" + p.name +
                               "' changed size since the optimizer's first step; use a new optimizer per model.");
      hyper_type h = hyper_;
      if (schedule_) h.lr *= schedule_(steps_);
      Rule::apply(b, p, state[i], h, steps_ + 1);
      ++i;
    }
    ++steps_;
  }

private:
  // Type-erased optimizer state: buffers of whichever backend and scalar type the model uses.
  // Backend buffers need not be copyable (device memory); copying an optimizer copies its state
  // where they are, and is refused where they are not.
  struct state_base {
    virtual ~state_base() = default;
    [[nodiscard]] virtual std::unique_ptr<state_base> clone() const = 0;
  };
  template <class B, class S>
  struct typed_state final : state_base {
    std::vector<std::vector<typename B::template buffer<S>>> buffers;
    [[nodiscard]] std::unique_ptr<state_base> clone() const override {
      if constexpr (std::is_copy_constructible_v<typename B::template buffer<S>>)
        return std::make_unique<typed_state>(*this);
      else
        throw invalid_argument("juice::gradient_descent: cannot copy an optimizer whose state lives in non-copyable " +
                               std::string(B::name) + " buffers; create a new optimizer instead.");
    }
  };

  template <class B, class S>
  auto& state_for() {
    if (!state_) state_ = std::make_unique<typed_state<B, S>>();
    auto* s = dynamic_cast<typed_state<B, S>*>(state_.get());
    if (!s) throw invalid_argument("juice::gradient_descent::step: one optimizer instance was used with models of different backends or scalar types.");
    return s->buffers;
  }

  hyper_type hyper_;
  std::function<double(std::size_t)> schedule_;
  std::size_t steps_ = 0;
  std::unique_ptr<state_base> state_;
  const void* owner_ = nullptr;
};

}  // namespace juice
