// juice/concepts/parameterised.hpp
//
// The Parameterised concept: a trainable model as optimizers see it.
//
// M satisfies Parameterised when:
//   1. M::scalar_type is a floating-point type (the parameters' element type);
//   2. M::backend_type satisfies juice::Backend (where the parameters live);
//   3. m.parameters() returns a forward range of juice::parameter<backend_type, scalar_type>, whose
//      views stay valid for the model's lifetime;
//   4. m.zero_grad() sets every gradient to zero.
// Gradients accumulate: a model's backward passes add to them until zero_grad().
// Deliberately not required: serialisation, a parameter count, copyability (Policy asks for a
// snapshot), or any notion of layers.
#pragma once

#include <concepts>
#include <ranges>

#include "juice/concepts/backend.hpp"
#include "juice/core/parameter.hpp"

namespace juice {

template <class M>
concept Parameterised =
    // 1.
    std::floating_point<typename M::scalar_type> &&
    // 2.
    Backend<typename M::backend_type> &&
    requires(M& m) {
      // 3.
      { m.parameters() } -> std::ranges::forward_range;
      requires std::same_as<std::ranges::range_value_t<decltype(m.parameters())>,
                            parameter<typename M::backend_type, typename M::scalar_type>>;
      // 4.
      m.zero_grad();
    };

}  // namespace juice
