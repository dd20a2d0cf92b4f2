// juice/concepts/optimizer.hpp
//
// The Optimizer concept: something that updates a model's parameters from its accumulated
// gradients.
//
// O satisfies Optimizer<M> when:
//   1. M satisfies juice::Parameterised;
//   2. o.step(m) applies one update to m's parameters using their gradients (and O's own state).
// Deliberately not required: zeroing gradients (the algorithms do that), learning-rate schedules
// (an optimizer may hold one), or state for a fixed model (state may be created on first step).
#pragma once

#include "juice/concepts/parameterised.hpp"

namespace juice {

template <class O, class M>
concept Optimizer =
    // 1.
    Parameterised<M> &&
    requires(O& o, M& m) {
  // 2.
  o.step(m);
};

}  // namespace juice
