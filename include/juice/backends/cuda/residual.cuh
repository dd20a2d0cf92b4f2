// juice/backends/cuda/residual.cuh
//
// Residual connections, one element per call: residual_forward(out(n), a(n), b(n)): out = a + b;
// add_inplace(x(n), y(n)): x += y (the backward pass adds the incoming gradient to each branch).
#pragma once

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

template <class T>
struct residual_forward_fn {
  T* out;
  const T* a;
  const T* b;
  JUICE_HOST_DEVICE void operator()(index i) const { out[i] = a[i] + b[i]; }
};

template <class T>
struct add_fn {
  T* x;
  const T* y;
  JUICE_HOST_DEVICE void operator()(index i) const { x[i] += y[i]; }
};

template <class Exec, class T>
void residual_forward(Exec&& exec, T* out, const T* a, const T* b, index n) {
  for_each_index(exec, n, residual_forward_fn<T>{out, a, b});
}

template <class Exec, class T>
void add_inplace(Exec&& exec, T* x, const T* y, index n) {
  for_each_index(exec, n, add_fn<T>{x, y});
}

}  // namespace juice::device_kernels
