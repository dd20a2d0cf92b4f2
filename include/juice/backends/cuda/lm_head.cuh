// juice/backends/cuda/lm_head.cuh
//
// The row-wise half of the tied LM head (the GEMMs, logits(M,V) = h(M,C) wte(V,C)^T and its
// backward, are the backend's: cuBLAS on the GPU, the CPU GEMM on the OpenMP system):
//   log_softmax_gather(logits(M,V), logp(M), target(M)): one row per call; the row becomes its
//       log-softmax in place (kept for the backward pass), logp[m] = logits[m, target[m]]; the sum
//       of exponentials is accumulated in double, as on the CPU; logp may be null
//   logits_to_dlogits(logits(M,V), target(M), g(M)): one row per call; the log-probabilities left
//       by the forward pass become dlogits = g (onehot(target) - softmax), in place
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

template <class T>
struct log_softmax_gather_fn {
  T* logits;
  T* logp;
  const int* target;
  index V;
  JUICE_HOST_DEVICE void operator()(index m) const {
    T* row = logits + m * V;
    T maxv = row[0];
    for (index v = 1; v < V; ++v) maxv = row[v] > maxv ? row[v] : maxv;
    double sum = 0;
    for (index v = 0; v < V; ++v) sum += std::exp(static_cast<double>(row[v] - maxv));
    const T lse = maxv + static_cast<T>(std::log(sum));
    for (index v = 0; v < V; ++v) row[v] -= lse;
    if (logp) logp[m] = row[target[m]];
  }
};

template <class T>
struct logits_to_dlogits_fn {
  T* logits;
  const int* target;
  const T* g;
  index V;
  JUICE_HOST_DEVICE void operator()(index m) const {
    T* row = logits + m * V;
    const T gm = g[m];
    for (index v = 0; v < V; ++v) row[v] = -gm * std::exp(row[v]);
    row[target[m]] += gm;
  }
};

template <class Exec, class T>
void log_softmax_gather(Exec&& exec, T* logits, T* logp, const int* target, index M, index V) {
  for_each_index(exec, M, log_softmax_gather_fn<T>{logits, logp, target, V});
}

template <class Exec, class T>
void logits_to_dlogits(Exec&& exec, T* logits, const int* target, const T* g, index M, index V) {
  for_each_index(exec, M, logits_to_dlogits_fn<T>{logits, target, g, V});
}

}  // namespace juice::device_kernels
