// juice/concepts/parameterised.hpp
//
// The Parameterised concept: a trainable model as optimizers see it.
//
// M satisfies Parameterised when:
//   1. M::scalar_type is a floating-point type (the parameters' element type);
//   2. M::backend_type satisfies juice::Backend (where the parameters live);
//   3. m.parameters() returns a forward range of juice::parameter<backend_type, scalar_type>, whose
//      views stay valid for the model's lifetime;
//   4. m.zero_grad() sets every gradient to zero;
//   5. the backend object is reachable: m.backend() returns the backend_type the parameters live
//      in, or backend_type is an empty (stateless) type that generic code may default-construct.
// Gradients accumulate: a model's backward passes add to them until zero_grad().
//
// FlatParameterised<M> refines it for models whose parameters and gradients each live in one
// contiguous buffer: m.parameter_block() returns one juice::parameter viewing all of them (in the
// order of parameters()), so that an optimizer update, a gradient norm or a clip is one backend
// call instead of one per tensor. Optimizers and the gradient helpers use it where a model offers
// it (juice::parameter_groups).
// Deliberately not required: serialisation, a parameter count, copyability (Policy asks for a
// snapshot), or any notion of layers.
#pragma once

#include <array>
#include <concepts>
#include <ranges>
#include <type_traits>

#include "juice/concepts/backend.hpp"
#include "juice/core/parameter.hpp"

namespace juice {

template <class M>
concept HasBackendObject = requires(M& m) {
  { m.backend() } -> std::convertible_to<const typename M::backend_type&>;
};

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
} &&
    // 5.
    (HasBackendObject<M> ||
     (std::is_empty_v<typename M::backend_type> && std::default_initializable<typename M::backend_type>));

template <class M>
concept FlatParameterised = Parameterised<M> && HasBackendObject<M> && requires(M& m) {
  { m.parameter_block() } -> std::same_as<parameter<typename M::backend_type, typename M::scalar_type>>;
};

// The backend object of a Parameterised model (a copy: backend copies share their context).
template <Parameterised M>
typename M::backend_type backend_of(M& m) {
  if constexpr (HasBackendObject<M>)
    return m.backend();
  else
    return typename M::backend_type{};
}

// The parameter groups an optimizer or gradient helper should walk: the single block of a
// FlatParameterised model, else every tensor.
template <Parameterised M>
auto parameter_groups(M& m) {
  if constexpr (FlatParameterised<M>)
    return std::array{m.parameter_block()};
  else
    return m.parameters();
}

}  // namespace juice
