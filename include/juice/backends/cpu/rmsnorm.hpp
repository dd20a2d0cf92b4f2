// juice/backends/cpu/rmsnorm.hpp
//
// Root-mean-square normalisation over the last axis (Zhang & Sennrich, "Root Mean Square Layer
// Normalization", 2019; Llama, Mistral, Qwen2), no mean subtraction and no bias:
//   forward:  out(N,C) = inp * rstd * weight, rstd(N) = 1 / sqrt(mean(inp^2) + eps); rstd may be
//             null (inference), else overwritten
//   backward: dinp += rstd (weight dout - x_hat mean(x_hat weight dout)), x_hat = inp rstd;
//             dweight += sum_n x_hat dout   (both accumulated, as layernorm_backward)
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

template <class T>
void rmsnorm_forward(T* out, T* rstd, const T* inp, const T* weight, std::ptrdiff_t N, std::ptrdiff_t C, double eps) {
  JUICE_OMP(omp parallel for schedule(static) if (N * C > streaming_threshold))
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    const T* x = inp + n * C;
    double ss = 0;  // a simd reduction, as in layernorm_forward
    JUICE_OMP(omp simd reduction(+
                                 : ss))
    for (std::ptrdiff_t c = 0; c < C; ++c) ss += static_cast<double>(x[c]) * x[c];
    const T s = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(C) + eps));
    T* o = out + n * C;
    JUICE_OMP(omp simd)
    for (std::ptrdiff_t c = 0; c < C; ++c) o[c] = x[c] * s * weight[c];
    if (rstd) rstd[n] = s;
  }
}

template <class T>
void rmsnorm_backward(T* dinp, T* dweight, const T* dout, const T* inp, const T* weight, const T* rstd, std::ptrdiff_t N,
                      std::ptrdiff_t C) {
  // Rows in parallel; dweight through per-thread partial sums added in thread order (deterministic).
  const int threads = N * C > streaming_threshold ? num_threads() : 1;
  std::vector<T> partial(static_cast<std::size_t>(C * threads), T(0));
  JUICE_OMP(omp parallel num_threads(threads) if (threads > 1))
  {
#if defined(_OPENMP)
    const std::ptrdiff_t tid = omp_get_thread_num();
#else
    const std::ptrdiff_t tid = 0;
#endif
    T* dw = partial.data() + C * tid;
    JUICE_OMP(omp for schedule(static))
    for (std::ptrdiff_t n = 0; n < N; ++n) {
      const T* d = dout + n * C;
      const T* x = inp + n * C;
      T* dx = dinp + n * C;
      const T s = rstd[n];
      T dnorm_norm_mean = 0;
      JUICE_OMP(omp simd reduction(+
                                   : dnorm_norm_mean))
      for (std::ptrdiff_t c = 0; c < C; ++c) dnorm_norm_mean += weight[c] * d[c] * x[c] * s;
      dnorm_norm_mean /= static_cast<T>(C);
      JUICE_OMP(omp simd)
      for (std::ptrdiff_t c = 0; c < C; ++c) {
        const T norm = x[c] * s;
        dw[c] += norm * d[c];
        dx[c] += (weight[c] * d[c] - norm * dnorm_norm_mean) * s;
      }
    }
  }
  for (int t = 0; t < threads; ++t)
    for (std::ptrdiff_t c = 0; c < C; ++c) dweight[c] += partial[static_cast<std::size_t>(C * t + c)];
}

}  // namespace juice::cpu_kernels
