// juice/backends/cpu/gelu_exact.hpp
//
// GELU with erf, gelu(x) = x Phi(x) = x/2 (1 + erf(x/sqrt 2)) (Hendrycks & Gimpel 2016; GPT-NeoX and
// Pythia, Hugging Face's hidden_act "gelu"), beside the tanh approximation of gelu.hpp:
//   forward:  out = x Phi(x)
//   backward: dinp = (Phi(x) + x phi(x)) dout, phi(x) = exp(-x^2/2) / sqrt(2 pi)   (overwritten;
//             dinp may alias dout)
// In float, Phi comes from Abramowitz & Stegun 7.1.26 (erf to 1.5e-7 absolute: a rational term in
// t = 1/(1 + p z) times exp(-z^2), with the vectorisable exp of fast_exp.hpp), computed on |x| and
// reflected, Phi(-x) = 1 - Phi(x), with a select rather than a branch so the loop vectorises; in
// double the loops call std::erf and std::exp, which the finite-difference tests check against.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "juice/backends/cpu/fast_exp.hpp"
#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

// Phi(x) and phi(x) of the standard normal distribution (see the header comment).
template <class T>
struct normal_cdf_pdf {
  T cdf, pdf;
};

template <class T>
inline normal_cdf_pdf<T> normal_at(T x) {
  if constexpr (std::is_same_v<T, float>) {
    const float z = std::fabs(x) * 0.70710678118654752f;  // |x| / sqrt 2
    const float e = exp_nonpositive(-z * z);
    const float t = 1.0f / (1.0f + 0.3275911f * z);
    const float q = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f)))) * e;
    const float tail = 0.5f * q;                                        // Phi(-|x|) = erfc(z) / 2
    return {x >= 0.0f ? 1.0f - tail : tail, 0.39894228040143268f * e};  // phi = exp(-x^2/2) / sqrt(2 pi)
  } else {
    return {T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440))), T(0.39894228040143267794) * std::exp(T(-0.5) * x * x)};
  }
}

template <class T>
void gelu_exact_forward(T* out, const T* inp, std::ptrdiff_t n) {
  // The thread count is chosen outside the pragma, as in gelu_forward (GCC then vectorises).
  [[maybe_unused]] const int threads = n > streaming_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel for simd schedule(static) num_threads(threads))
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T x = inp[i];
    out[i] = x * normal_at(x).cdf;
  }
}

template <class T>
void gelu_exact_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t n) {
  [[maybe_unused]] const int threads = n > streaming_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel for simd schedule(static) num_threads(threads))
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const normal_cdf_pdf<T> nd = normal_at(x);
    dinp[i] = (nd.cdf + x * nd.pdf) * dout[i];
  }
}

}  // namespace juice::cpu_kernels
