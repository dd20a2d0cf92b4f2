// juice/backends/cpu/gelu.hpp
//
// GELU with GPT-2's tanh approximation, gelu(x) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))):
//   forward:  out = gelu(inp)
//   backward: dinp = gelu'(inp) dout   (overwritten)
#pragma once

#include <cmath>
#include <cstddef>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

template <class T>
void gelu_forward(T* out, const T* inp, std::ptrdiff_t n) {
  const T k = static_cast<T>(0.7978845608028654);  // sqrt(2/pi)
JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T x = inp[i];
    out[i] = T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
  }
}

template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t n) {
  const T k = static_cast<T>(0.7978845608028654);
JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const T u = k * (x + T(0.044715) * x * x * x);
    const T th = std::tanh(u);
    const T sech2 = T(1) - th * th;
    const T local = T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * k * (T(1) + T(3) * T(0.044715) * x * x);
    dinp[i] = local * dout[i];
  }
}

}  // namespace juice::cpu_kernels
