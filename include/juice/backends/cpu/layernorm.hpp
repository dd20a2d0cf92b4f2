// juice/backends/cpu/layernorm.hpp
//
// Layer normalisation over the last axis (eps = 1e-5, as GPT-2):
//   forward:  out(N,C) = (inp - mean) * rstd * weight + bias; saves mean(N), rstd(N)
//   backward: dinp += ..., dweight += ..., dbias += ...   (all accumulated)
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, std::ptrdiff_t N,
                       std::ptrdiff_t C) {
  const double eps = 1e-5;
  JUICE_OMP(omp parallel for schedule(static) if (N * C > streaming_threshold))
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    const T* x = inp + n * C;
    // The sums are simd reductions (several partial sums, added at the end), so they vectorise;
    // a plain loop would be one chain of dependent additions, its latency the whole cost.
    double m = 0;
    JUICE_OMP(omp simd reduction(+
                                 : m))
    for (std::ptrdiff_t c = 0; c < C; ++c) m += x[c];
    m /= static_cast<double>(C);
    double v = 0;
    JUICE_OMP(omp simd reduction(+
                                 : v))
    for (std::ptrdiff_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    v /= static_cast<double>(C);
    const T s = static_cast<T>(1.0 / std::sqrt(v + eps));
    const T mt = static_cast<T>(m);
    T* o = out + n * C;
    JUICE_OMP(omp simd)
    for (std::ptrdiff_t c = 0; c < C; ++c) o[c] = (x[c] - mt) * s * weight[c] + bias[c];
    if (mean) mean[n] = mt;
    if (rstd) rstd[n] = s;
  }
}

template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, const T* mean,
                        const T* rstd, std::ptrdiff_t N, std::ptrdiff_t C) {
  // Rows in parallel for dinp; the parameter gradients go to per-thread partial sums that are added
  // up in thread order afterwards, so the result does not depend on scheduling.
  const int threads = N * C > streaming_threshold ? num_threads() : 1;
  std::vector<T> partial(static_cast<std::size_t>(2 * C * threads), T(0));
  JUICE_OMP(omp parallel num_threads(threads) if (threads > 1))
  {
#if defined(_OPENMP)
    const std::ptrdiff_t tid = omp_get_thread_num();
#else
    const std::ptrdiff_t tid = 0;
#endif
    T* dw = partial.data() + 2 * C * tid;
    T* db = dw + C;
    JUICE_OMP(omp for schedule(static))
    for (std::ptrdiff_t n = 0; n < N; ++n) {
      const T* d = dout + n * C;
      const T* x = inp + n * C;
      T* dx = dinp + n * C;
      const T m = mean[n], s = rstd[n];
      T dnorm_mean = 0, dnorm_norm_mean = 0;
      JUICE_OMP(omp simd reduction(+
                                   : dnorm_mean, dnorm_norm_mean))
      for (std::ptrdiff_t c = 0; c < C; ++c) {
        const T norm = (x[c] - m) * s;
        const T dnorm = weight[c] * d[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
      }
      dnorm_mean /= static_cast<T>(C);
      dnorm_norm_mean /= static_cast<T>(C);
      JUICE_OMP(omp simd)
      for (std::ptrdiff_t c = 0; c < C; ++c) {
        const T norm = (x[c] - m) * s;
        const T dnorm = weight[c] * d[c];
        db[c] += d[c];
        dw[c] += norm * d[c];
        dx[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
      }
    }
  }
  for (int t = 0; t < threads; ++t)
    for (std::ptrdiff_t c = 0; c < C; ++c) {
      dweight[c] += partial[static_cast<std::size_t>(2 * C * t + c)];
      dbias[c] += partial[static_cast<std::size_t>(2 * C * t + C + c)];
    }
}

}  // namespace juice::cpu_kernels
