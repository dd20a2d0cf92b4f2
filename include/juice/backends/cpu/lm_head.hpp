// juice/backends/cpu/lm_head.hpp
//
// The tied LM head fused with log-softmax and the gather of the target token, so the (M,V) logits
// are materialised once: the forward pass overwrites them with log-probabilities, the backward pass
// turns those into dLoss/dlogits in place.
//   lm_logits:               logits(M,V) = h(M,C) wte(V,C)^T
//   log_softmax_gather:      logits(M,V) := log_softmax(logits) in place; logp(m) = logits(m, target[m])
//   lm_logprob_forward:      both of the above
//   lm_logprob_backward:     with g(m) = dLoss/dlogp(m): dlogits = g (onehot(target) - softmax),
//                            dh(M,C) = dlogits wte (overwritten), dwte += dlogits^T h (accumulated).
//                            Consumes the log-probabilities left in `logits`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "juice/backends/cpu/fast_exp.hpp"
#include "juice/backends/cpu/gemm.hpp"
#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

template <class T>
void lm_logits(T* logits, const T* h, const T* wte, std::ptrdiff_t M, std::ptrdiff_t C, std::ptrdiff_t V) {
  matmul_forward<T>(logits, h, wte, nullptr, M, C, V);
}

// exp of a value at most about 0: the vectorisable polynomial in float (fast_exp.hpp), libm in
// double (the precision the finite-difference tests need).
template <class T>
inline T softmax_exp(T x) {
  if constexpr (std::is_same_v<T, float>)
    return exp_nonpositive(x);
  else
    return std::exp(x);
}

// Rows in parallel; within a row three passes the compiler vectorises (max, sum of exp in double,
// subtract), each over a row of V floats that stays in the L2 cache between passes.
template <class T>
void log_softmax_gather(T* logits, T* logp, const int* target, std::ptrdiff_t M, std::ptrdiff_t V) {
  JUICE_OMP(omp parallel for schedule(static) if (M * V > parallel_threshold))
  for (std::ptrdiff_t m = 0; m < M; ++m) {
    T* row = logits + m * V;
    T maxv = -std::numeric_limits<T>::infinity();
    JUICE_OMP(omp simd reduction(max
                                 : maxv))
    for (std::ptrdiff_t v = 0; v < V; ++v) maxv = row[v] > maxv ? row[v] : maxv;
    // Sum of exp in blocks of 256: each block's sum a simd reduction in T (16 terms per lane, each
    // in (0, 1]: no cancellation), the blocks added in double. (One double reduction over the row
    // with the clamped exp inside does not vectorise with GCC 12.)
    double sum = 0;
    for (std::ptrdiff_t v0 = 0; v0 < V; v0 += 256) {
      const std::ptrdiff_t v1 = std::min(V, v0 + 256);
      T block = 0;
      JUICE_OMP(omp simd reduction(+
                                   : block))
      for (std::ptrdiff_t v = v0; v < v1; ++v) block += softmax_exp<T>(row[v] - maxv);
      sum += static_cast<double>(block);
    }
    const T lse = maxv + static_cast<T>(std::log(sum));
    JUICE_OMP(omp simd)
    for (std::ptrdiff_t v = 0; v < V; ++v) row[v] -= lse;
    if (logp) logp[m] = row[target[m]];
  }
}

template <class T>
void lm_logprob_forward(T* logits, T* logp, const T* h, const T* wte, const int* target, std::ptrdiff_t M,
                        std::ptrdiff_t C, std::ptrdiff_t V) {
  lm_logits<T>(logits, h, wte, M, C, V);
  log_softmax_gather<T>(logits, logp, target, M, V);
}

template <class T>
void lm_logprob_backward(T* dh, T* dwte, T* logits, const T* h, const T* wte, const int* target, const T* g,
                         std::ptrdiff_t M, std::ptrdiff_t C, std::ptrdiff_t V) {
  JUICE_OMP(omp parallel for schedule(static) if (M * V > parallel_threshold))
  for (std::ptrdiff_t m = 0; m < M; ++m) {
    T* row = logits + m * V;
    const T gm = g[m];
    JUICE_OMP(omp simd)
    for (std::ptrdiff_t v = 0; v < V; ++v) row[v] = -gm * softmax_exp<T>(row[v]);
    row[target[m]] += gm;
  }
  matmul_backward<T>(dh, dwte, nullptr, logits, h, wte, M, C, V);
}

}  // namespace juice::cpu_kernels
