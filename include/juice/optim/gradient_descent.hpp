// juice/optim/gradient_descent.hpp
//
// gradient_descent<Rule>: the one optimizer template. A Rule owns the per-element update (through a
// Backend primitive) and says how much state it keeps per parameter element; the template owns that
// state, the step count and an optional learning-rate schedule. juice::sgd and juice::adamw are
// aliases (the pattern of ensmallen's AdamType<UpdateRule>). Per-element state belongs to one
// model: the first model stepped binds an AdamW optimizer, and stepping another model (even one of
// the same shape, whose moments would silently mix) is refused until reset(); SGD keeps no such
// state and may serve several models. On a FlatParameterised model the update is
// one backend call over the whole parameter block. export_state / import_state move the whole state
// (step count, hyper-parameters, per-element state) to and from host data for checkpoints
// (juice/optim/optimizer_state.hpp); a Rule names itself and its state slots and hyper-parameters
// for that.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "juice/concepts/parameterised.hpp"
#include "juice/core/error.hpp"
#include "juice/optim/optimizer_state.hpp"

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
    update<false>(model);
  }

  // The same update, leaving every gradient zero: for a training loop that does not read the
  // gradients after the step, this replaces step() followed by the next zero_grad(). Where the rule
  // has a fused update-and-zero (AdamW on a backend with adamw_update_and_zero) it is one pass over
  // the parameters and gradients instead of two; other rules update and then fill the gradients.
  // juice's algorithms keep using step(): their gradients stay readable after an update (the
  // unbiasedness tests and the diagnostics read them).
  template <Parameterised M>
  void step_and_zero_grad(M& model) {
    update<true>(model);
  }

  // The whole state as host data (see juice/optim/optimizer_state.hpp), for the model the optimizer
  // steps (or will step: an optimizer that has not stepped yet exports zero state of the model's
  // shape, which is what its first step would start from). One download per state buffer.
  template <Parameterised M>
  [[nodiscard]] optimizer_state export_state(M& model) const {
    using B = typename M::backend_type;
    using S = typename M::scalar_type;
    check_owner(model, "export_state");
    optimizer_state out;
    out.rule = std::string(Rule::name);
    out.scalar = scalar_name<S>();
    out.steps = steps_;
    hyper_type h = hyper_;
    for (auto [key, value] : Rule::hyper_fields(h)) out.hyper[std::string(key)] = *value;
    const auto* typed = state_ ? dynamic_cast<const typed_state<B, S>*>(state_.get()) : nullptr;
    if (state_ && !typed)
      throw invalid_argument("juice::gradient_descent::export_state: the optimizer's state belongs to a model of another backend or scalar type.");
    auto b = backend_of(model);
    std::size_t i = 0;
    for (auto& p : parameter_groups(model)) {
      for (std::size_t k = 0; k < Rule::state_per_element; ++k) {
        optimizer_tensor t{p.name + "." + std::string(Rule::state_names[k]), {}};
        if (typed && i < typed->buffers.size())
          t.values = detail::download_state<B, S>(b, typed->buffers[i][k]);
        else
          t.values.assign(p.value.size(), 0.0);
        out.tensors.push_back(std::move(t));
      }
      ++i;
    }
    return out;
  }

  // Replaces this optimizer's state with `s` and binds it to `model` (whose parameter groups must
  // have the shape the state was exported from). Everything is checked before anything changes (see
  // check_state). The schedule, if any, is kept: it is code, not state, and continues from the
  // restored step count.
  template <Parameterised M>
  void import_state(M& model, const optimizer_state& s) {
    using B = typename M::backend_type;
    using S = typename M::scalar_type;
    auto [h, ordered] = checked(model, s, "import_state");
    auto b = backend_of(model);
    auto fresh = std::make_unique<typed_state<B, S>>();  // built aside, then swapped in
    std::size_t n = 0;
    for (auto& p : parameter_groups(model)) {
      fresh->buffers.emplace_back();
      for (std::size_t k = 0; k < Rule::state_per_element; ++k) {
        fresh->buffers.back().push_back(b.template allocate<S>(p.value.size()));
        detail::upload_state<B, S>(b, fresh->buffers.back().back(), ordered[n++]->values);
      }
    }
    state_ = std::move(fresh);
    hyper_ = h;
    steps_ = s.steps;
    owner_ = &model;
  }

  // Throws juice::invalid_argument, naming what differs, if import_state(model, s) would refuse `s`:
  // another rule or scalar type, a missing, unexpected, repeated or misshapen tensor, a missing or
  // unknown hyper-parameter. Changes nothing.
  template <Parameterised M>
  void check_state(M& model, const optimizer_state& s) const {
    (void)checked(model, s, "check_state");
  }

private:
  // step() and step_and_zero_grad(): with Zero the gradients end at zero.
  template <bool Zero, Parameterised M>
  void update(M& model) {
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
      if constexpr (!Zero) {
        Rule::apply(b, p, state[i], h, steps_ + 1);
      } else if constexpr (requires { Rule::apply_and_zero(b, p, state[i], h, steps_ + 1); }) {
        Rule::apply_and_zero(b, p, state[i], h, steps_ + 1);
      } else {
        Rule::apply(b, p, state[i], h, steps_ + 1);
        b.fill(p.grad, S(0));
      }
      ++i;
    }
    ++steps_;
  }

  // The checks of check_state; returns the hyper-parameters to adopt and the tensors in the order
  // of the model's parameter groups and the rule's slots.
  template <Parameterised M>
  std::pair<hyper_type, std::vector<const optimizer_tensor*>> checked(M& model, const optimizer_state& s, const char* what) const {
    using S = typename M::scalar_type;
    const std::string where = std::string("juice::gradient_descent::") + what + ": ";
    if (s.rule != Rule::name)
      throw invalid_argument(where + "the state is of the '" + s.rule + "' optimizer, not '" + std::string(Rule::name) + "'.");
    if (s.scalar != scalar_name<S>())
      throw invalid_argument(where + "the state holds " + s.scalar + " values but the model's scalar type is " +
                             scalar_name<S>() + ".");
    hyper_type h = hyper_;
    auto fields = Rule::hyper_fields(h);
    for (auto [key, value] : fields) {
      auto it = s.hyper.find(std::string(key));
      if (it == s.hyper.end()) throw invalid_argument(where + "the hyper-parameter '" + std::string(key) + "' is missing.");
      *value = it->second;
    }
    for (const auto& entry : s.hyper) {
      bool known = false;
      for (const auto& field : fields) known = known || field.first == entry.first;
      if (!known)
        throw invalid_argument(where + "unknown hyper-parameter '" + entry.first + "' for '" + std::string(Rule::name) + "'.");
    }
    std::map<std::string, const optimizer_tensor*> by_name;
    for (const auto& t : s.tensors)
      if (!by_name.emplace(t.name, &t).second) throw invalid_argument(where + "tensor '" + t.name + "' appears twice.");
    std::vector<const optimizer_tensor*> ordered;
    for (auto& p : parameter_groups(model))
      for (std::size_t k = 0; k < Rule::state_per_element; ++k) {
        const std::string name = p.name + "." + std::string(Rule::state_names[k]);
        auto it = by_name.find(name);
        if (it == by_name.end()) throw invalid_argument(where + "tensor '" + name + "' is missing.");
        if (it->second->values.size() != static_cast<std::size_t>(p.value.size()))
          throw invalid_argument(where + "tensor '" + name + "' has " + std::to_string(it->second->values.size()) +
                                 " elements but the model's parameter group '" + p.name + "' has " +
                                 std::to_string(p.value.size()) + ".");
        ordered.push_back(it->second);
        by_name.erase(it);
      }
    if (!by_name.empty())
      throw invalid_argument(where + "tensor '" + by_name.begin()->first + "' matches no parameter group of the model.");
    return {h, std::move(ordered)};
  }

  template <class M>
  void check_owner(const M& model, const char* what) const {
    if (Rule::state_per_element > 0 && owner_ && owner_ != static_cast<const void*>(&model))
      throw invalid_argument(std::string("juice::gradient_descent::") + what +
                             ": this optimizer holds the state of another model; pass the model it steps.");
  }

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
