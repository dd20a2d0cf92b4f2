// juice/backends/cpu/residual.hpp
//
// Residual connections: out = a + b (forward); the backward pass is the identity on both inputs,
// so models add the incoming gradient to each branch with add_inplace (x += y).
#pragma once

#include <cstddef>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

template <class T>
void residual_forward(T* out, const T* a, const T* b, std::ptrdiff_t n) {
  JUICE_OMP(omp parallel for simd schedule(static) if (n > streaming_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T>
void add_inplace(T* x, const T* y, std::ptrdiff_t n) {
  JUICE_OMP(omp parallel for simd schedule(static) if (n > streaming_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace juice::cpu_kernels
