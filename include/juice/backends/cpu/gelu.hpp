// juice/backends/cpu/gelu.hpp
//
// GELU with GPT-2's tanh approximation, gelu(x) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))):
//   forward:  out = gelu(inp)
//   backward: dinp = gelu'(inp) dout   (overwritten)
// In float, tanh is computed from a polynomial exp (Cephes expf: range reduction by ln 2, degree-6
// polynomial, scaling by 2^n through the exponent bits) that the compiler can vectorise; its
// absolute error is about 1e-7, which is all GELU needs (the tanh enters as 1 + tanh). In double
// the loops call std::tanh, which the finite-difference tests check against.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "juice/backends/cpu/fast_exp.hpp"
#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

// tanh, vectorisable in float (see the header comment): |u| is clamped to 9 (tanh(9) rounds to 1
// in float) with an integer min on the bit patterns, which keeps the loop branch-free; a NaN
// becomes 9 here, and GELU's factor x still makes the result NaN.
template <class T>
inline T gelu_tanh(T u) {
  if constexpr (std::is_same_v<T, float>) {
    const float a = std::bit_cast<float>(
        std::min(std::bit_cast<std::int32_t>(std::fabs(u)), std::bit_cast<std::int32_t>(9.0f)));
    const float t = exp_small_negative(-2.0f * a);
    return std::copysign((1.0f - t) / (1.0f + t), u);
  } else {
    return std::tanh(u);
  }
}

template <class T>
void gelu_forward(T* out, const T* inp, std::ptrdiff_t n) {
  const T k = static_cast<T>(0.7978845608028654);  // sqrt(2/pi)
  // The thread count is chosen outside the pragma: with `if (n > streaming_threshold)` instead,
  // GCC 12 judged the vectorised loop "not profitable" and ran it scalar, 12x slower.
  [[maybe_unused]] const int threads = n > streaming_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel for simd schedule(static) num_threads(threads))
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T x = inp[i];
    out[i] = T(0.5) * x * (T(1) + gelu_tanh(k * (x + T(0.044715) * x * x * x)));
  }
}

template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t n) {
  const T k = static_cast<T>(0.7978845608028654);
  [[maybe_unused]] const int threads = n > streaming_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel for simd schedule(static) num_threads(threads))
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const T u = k * (x + T(0.044715) * x * x * x);
    const T th = gelu_tanh(u);
    const T sech2 = T(1) - th * th;
    const T local = T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * k * (T(1) + T(3) * T(0.044715) * x * x);
    dinp[i] = local * dout[i];
  }
}

}  // namespace juice::cpu_kernels
