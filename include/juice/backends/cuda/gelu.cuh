// juice/backends/cuda/gelu.cuh
//
// GELU with GPT-2's tanh approximation, gelu(x) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
// one element per call:
//   gelu_forward(out(n), inp(n)):           out = gelu(inp)
//   gelu_backward(dinp(n), inp, dout(n)):   dinp = gelu'(inp) dout, overwritten; dinp may alias dout
//                                           (each call reads dout[i] before writing dinp[i])
// The device's tanh is used in both precisions; the CPU backend's float path uses a polynomial
// tanh, so float results agree to about 1e-7, not bit for bit.
// The exact GELU of GPT-NeoX (Hendrycks & Gimpel, "Gaussian Error Linear Units", 2016), with the
// same arguments and aliasing:
//   gelu_exact_forward(out(n), inp(n)):          out = x Phi(x) = x/2 (1 + erf(x/sqrt 2))
//   gelu_exact_backward(dinp(n), inp, dout(n)):  dinp = (Phi(x) + x phi(x)) dout, overwritten, phi
//                                                the standard normal density; dinp may alias dout
// Phi(x) is computed as erfc(-x/sqrt 2)/2, the same value without the cancellation of 1 + erf for
// negative x, so both keep their relative accuracy where Phi is tiny (x = -10: Phi = 7.6e-24).
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

template <class T>
struct gelu_forward_fn {
  T* out;
  const T* inp;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const T k = static_cast<T>(0.7978845608028654);  // sqrt(2/pi)
    const T x = inp[i];
    out[i] = T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
  }
};

template <class T>
struct gelu_backward_fn {
  T* dinp;
  const T* inp;
  const T* dout;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const T k = static_cast<T>(0.7978845608028654);
    const T x = inp[i];
    const T th = std::tanh(k * (x + T(0.044715) * x * x * x));
    const T sech2 = T(1) - th * th;
    const T local = T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * k * (T(1) + T(3) * T(0.044715) * x * x);
    dinp[i] = local * dout[i];
  }
};

namespace detail {

// Phi(x), the standard normal distribution function.
template <class T>
JUICE_HOST_DEVICE T normal_cdf(T x) {
  return T(0.5) * std::erfc(-x * static_cast<T>(0.70710678118654752));  // 1/sqrt(2)
}

}  // namespace detail

template <class T>
struct gelu_exact_forward_fn {
  T* out;
  const T* inp;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const T x = inp[i];
    out[i] = x * detail::normal_cdf(x);
  }
};

template <class T>
struct gelu_exact_backward_fn {
  T* dinp;
  const T* inp;
  const T* dout;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const T x = inp[i];
    const T pdf = static_cast<T>(0.39894228040143268) * std::exp(T(-0.5) * x * x);  // 1/sqrt(2 pi)
    dinp[i] = (detail::normal_cdf(x) + x * pdf) * dout[i];
  }
};

template <class Exec, class T>
void gelu_forward(Exec&& exec, T* out, const T* inp, index n) { for_each_index(exec, n, gelu_forward_fn<T>{out, inp}); }

template <class Exec, class T>
void gelu_backward(Exec&& exec, T* dinp, const T* inp, const T* dout, index n) {
  for_each_index(exec, n, gelu_backward_fn<T>{dinp, inp, dout});
}

template <class Exec, class T>
void gelu_exact_forward(Exec&& exec, T* out, const T* inp, index n) {
  for_each_index(exec, n, gelu_exact_forward_fn<T>{out, inp});
}

template <class Exec, class T>
void gelu_exact_backward(Exec&& exec, T* dinp, const T* inp, const T* dout, index n) {
  for_each_index(exec, n, gelu_exact_backward_fn<T>{dinp, inp, dout});
}

}  // namespace juice::device_kernels
