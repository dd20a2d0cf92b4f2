// juice/concepts/backend.hpp
//
// The Backend concept: a memory space and the primitives that generic code runs on parameter
// tensors there. A backend is an object (it may own streams, library handles and workspaces; it
// holds no global state); models hold theirs and hand it out through backend() (see
// juice/concepts/parameterised.hpp). Models are written against a Backend (and add the primitives
// their layers need); algorithms and optimizers reach parameters only through these primitives, so
// the same optimizer runs on host memory and on a GPU.
//
// B satisfies Backend when B is copy-constructible (copies share the underlying context) and, for
// T = float and T = double and an lvalue b of type B:
//   1. B::buffer<T> is an owning array of T in B's memory; B::view<T> and B::const_view<T> are
//      non-owning views of (part of) one, with size(); a view converts to a const_view. Nothing
//      requires element access from the host: device memory qualifies.
//   2. b.allocate<T>(n) returns a zero-filled buffer of n elements; b.view_of(buffer) views it whole.
//   3. b.fill(x, a), b.scale(x, a), b.axpy(a, y, x) (x += a y) and b.copy(y, x) modify x in place;
//      x and y are the same size and do not overlap unless they are equal.
//   4. b.dot(y, z) returns the inner product as double (accumulated in at least double precision),
//      on the host: one synchronisation.
//   5. b.sgd_update(value, grad, sgd_hyper) and b.adamw_update(value, grad, m, v, adamw_hyper)
//      apply one optimizer update element-wise (value, m and v overwritten; grad read).
//   6. B::name is a short static name ("host", "cpu", "cuda") for messages and benchmark labels.
// A stateless backend may implement all of these as static members (b.f(...) calls them).
// Optional (used when present): b.adamw_update_and_zero(value, grad, m, v, adamw_hyper), the AdamW
// update followed by grad = 0 in one pass (juice::gradient_descent::step_and_zero_grad).
// Deliberately not required: GEMM, transformer layers, random numbers, streams, or any particular
// element access: those belong to the models that use a backend, not to generic code.
#pragma once

#include <concepts>
#include <cstddef>
#include <string_view>

#include "juice/core/parameter.hpp"

namespace juice {

template <class B, class T>
concept BackendFor = requires {
  typename B::template buffer<T>;
  typename B::template view<T>;
  typename B::template const_view<T>;
}
&&requires(B& b, typename B::template buffer<T>& buf, typename B::template view<T> x,
           typename B::template const_view<T> y, typename B::template view<T> m,
           typename B::template view<T> v, T a, std::size_t n, const sgd_hyper& sh,
           const adamw_hyper& ah) {
  // 1.
  { x.size() } -> std::convertible_to<std::size_t>;
  { y.size() } -> std::convertible_to<std::size_t>;
  requires std::convertible_to < typename B::template view<T>,
  typename B::template const_view < T >> ;
  // 2.
  { b.template allocate<T>(n) } -> std::same_as<typename B::template buffer<T>>;
  { b.view_of(buf) } -> std::same_as<typename B::template view<T>>;
  // 3.
  b.fill(x, a);
  b.scale(x, a);
  b.axpy(a, y, x);
  b.copy(y, x);
  // 4.
  { b.dot(y, y) } -> std::same_as<double>;
  // 5.
  b.sgd_update(x, y, sh);
  b.adamw_update(x, y, m, v, ah);
};

template <class B>
concept Backend = std::copy_constructible<B> && BackendFor<B, float> && BackendFor<B, double> && requires {
  // 6.
  { B::name } -> std::convertible_to<std::string_view>;
};

}  // namespace juice
