// juice/backends/cpu/swiglu.hpp
//
// The SiLU-gated linear unit of Llama's MLP (Shazeer, "GLU Variants Improve Transformer", 2020) on
// packed projections inp(N,2H) = [gate | up] per row (one GEMM with the gate and up weights stacked):
//   forward:  out(N,H) = silu(gate) * up, silu(g) = g sigmoid(g)      (overwritten)
//   backward: dinp(N,2H) = [dout up silu'(gate) | dout silu(gate)],
//             silu'(g) = sigmoid(g) (1 + g (1 - sigmoid(g)))          (overwritten; may alias inp)
// In float the sigmoid's exp is the vectorisable polynomial of fast_exp.hpp, taken of -|g| so it
// never overflows; in double it is std::exp.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "juice/backends/cpu/fast_exp.hpp"
#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

// sigmoid(g) from t = exp(-|g|) in (0, 1]: 1/(1+t) for g >= 0, t/(1+t) below. A NaN stays NaN.
template <class T>
inline T sigmoid(T g) {
  T t;
  if constexpr (std::is_same_v<T, float>) t = exp_nonpositive(-std::fabs(g));
  else t = std::exp(-std::fabs(g));
  const T r = T(1) / (T(1) + t);
  return g >= T(0) ? r : t * r;
}

template <class T>
void swiglu_forward(T* out, const T* inp, std::ptrdiff_t N, std::ptrdiff_t H) {
  [[maybe_unused]] const int threads = N * H > streaming_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel for schedule(static) num_threads(threads))
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    const T* gate = inp + 2 * n * H;
    const T* up = gate + H;
    T* o = out + n * H;
    JUICE_OMP(omp simd)
    for (std::ptrdiff_t i = 0; i < H; ++i) o[i] = gate[i] * sigmoid(gate[i]) * up[i];
  }
}

template <class T>
void swiglu_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t N, std::ptrdiff_t H) {
  [[maybe_unused]] const int threads = N * H > streaming_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel for schedule(static) num_threads(threads))
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    const T* gate = inp + 2 * n * H;
    const T* up = gate + H;
    const T* d = dout + n * H;
    T* dgate = dinp + 2 * n * H;
    T* dup = dgate + H;
    // Each element reads its gate and up before writing them, so dinp may alias inp.
    JUICE_OMP(omp simd)
    for (std::ptrdiff_t i = 0; i < H; ++i) {
      const T g = gate[i], u = up[i], s = sigmoid(g);
      dgate[i] = d[i] * u * s * (T(1) + g * (T(1) - s));
      dup[i] = d[i] * g * s;
    }
  }
}

}  // namespace juice::cpu_kernels
