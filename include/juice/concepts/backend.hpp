// juice/concepts/backend.hpp
//
// The Backend concept: a memory space and the primitives that generic code runs on parameter
// tensors there. Models are written against a Backend (and add the primitives their layers need);
// algorithms and optimizers reach parameters only through these primitives, so the same optimizer
// runs on host memory and on a GPU.
//
// B satisfies Backend when, for T = float and T = double:
//   1. B::buffer<T> is an owning, contiguous array of T in B's memory; B::view<T> and
//      B::const_view<T> are non-owning views of one, with size(); a view converts to a const_view.
//   2. B::allocate<T>(n) returns a zero-filled buffer of n elements; B::view_of(buffer) views it.
//   3. B::fill(x, a), B::scale(x, a), B::axpy(a, y, x) (x += a y) and B::copy(y, x) modify x in place.
//   4. B::dot(y, z) returns the inner product as double (accumulated in at least double precision
//      on the host).
//   5. B::sgd_update(value, grad, sgd_hyper) and B::adamw_update(value, grad, m, v, adamw_hyper)
//      apply one optimizer update element-wise.
//   6. B::name is a short static name ("host", "cpu", "cuda") for messages and benchmark labels.
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
} && requires(typename B::template buffer<T>& buf, typename B::template view<T> x,
              typename B::template const_view<T> y, typename B::template view<T> m,
              typename B::template view<T> v, T a, std::size_t n, const sgd_hyper& sh,
              const adamw_hyper& ah) {
  // 1.
  { x.size() } -> std::convertible_to<std::size_t>;
  { y.size() } -> std::convertible_to<std::size_t>;
  requires std::convertible_to<typename B::template view<T>, typename B::template const_view<T>>;
  // 2.
  { B::template allocate<T>(n) } -> std::same_as<typename B::template buffer<T>>;
  { B::view_of(buf) } -> std::same_as<typename B::template view<T>>;
  // 3.
  B::fill(x, a);
  B::scale(x, a);
  B::axpy(a, y, x);
  B::copy(y, x);
  // 4.
  { B::dot(y, y) } -> std::same_as<double>;
  // 5.
  B::sgd_update(x, y, sh);
  B::adamw_update(x, y, m, v, ah);
};

template <class B>
concept Backend = BackendFor<B, float> && BackendFor<B, double> && requires {
  // 6.
  { B::name } -> std::convertible_to<std::string_view>;
};

}  // namespace juice
