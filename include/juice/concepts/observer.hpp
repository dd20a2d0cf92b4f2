// juice/concepts/observer.hpp
//
// The Observer concept: a callback the algorithms invoke after every update with a step_event
// (loss, squared gradient norm, round/step indices). Diagnostics and loggers are observers.
//
// O satisfies Observer when:
//   1. o(event) is valid for a const juice::step_event&.
// Deliberately not required: a return value, access to the model, or thread safety.
#pragma once

#include <concepts>

#include "juice/core/events.hpp"

namespace juice {

template <class O>
concept Observer = std::invocable<O&, const step_event&>;

// The observer that does nothing (the default).
struct null_observer {
  void operator()(const step_event&) const noexcept {}
};

}  // namespace juice
