// juice/backends/cuda/lm_head.cuh
//
// The row-wise half of the tied LM head (the GEMMs, logits(M,V) = h(M,C) wte(V,C)^T and its
// backward, are the backend's: cuBLAS on the GPU, the CPU GEMM on the OpenMP system):
//   log_softmax_gather(logits(M,V), logp(M), target(M)): one row per call; the row becomes its
//       log-softmax in place (kept for the backward pass), logp[m] = logits[m, target[m]]; the sum
//       of exponentials is accumulated in double, as on the CPU; logp may be null
//   logits_to_dlogits(logits(M,V), target(M), g(M)): one row per call; the log-probabilities left
//       by the forward pass become dlogits = g (onehot(target) - softmax), in place
// Those functors (one thread per row, three passes over V: maximum, sum of exponentials, subtract)
// are the portable reference, and what the OpenMP system runs. Under nvcc the same two operations
// also exist as CUDA kernels with one thread block per row (log_softmax_gather_block_rows,
// logits_to_dlogits_block_rows), which juice::cuda runs instead (V = 50257 for GPT-2: a row per
// thread leaves most of the GPU idle and reads the row with stride V between threads):
//   forward: each thread strides over the row (adjacent threads on adjacent columns) keeping an
//       online maximum and sum of exp(x - max) in double, the sum rescaled when the maximum grows,
//       so the row is read once for both; the block combines the threads' (max, sum) pairs with
//       cub::BlockReduce (a fixed tree for the fixed block size: deterministic, no atomics), and
//       lse = max + log(sum) as the functor computes it; a second pass writes x - lse. The sum is
//       the functor's up to the order of the additions and the rescaling, so the two agree to
//       float rounding (tests/gpu, lm_head_block_rows, derives the bound). The per-thread part,
//       the combination and lse are host-device functions (row_part, combine_max_sum, lse_of), so
//       the OpenMP tests run the kernel's arithmetic, in CUB's reduction order, against the functor
//       (tests/thrust_omp/test_lm_head_block_model.cpp).
//   backward: the functor's arithmetic element by element, with the row spread over the block,
//       so the result is the functor's bit for bit.
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"

#if defined(__CUDACC__)
#include <string>

#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>

#include "juice/backends/cuda/error.hpp"
#endif

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

// The block-per-row forward pass's arithmetic, host-device so that the OpenMP tests run it
// (tests/thrust_omp/test_lm_head_block_model.cpp emulates a block's threads and reductions with it):
// lm_head_block threads per row; thread t's part of a row is its elements t, t + lm_head_block, ...
inline constexpr int lm_head_block = 256;

// A part of a row: its maximum and the sum of exp(x - max) over its elements (0 for no element).
template <class T>
struct max_sum {
  T max;
  double sum;
};

// The (max, sum) of the union of two parts: each sum rescaled to the larger maximum.
template <class T>
struct combine_max_sum {
  JUICE_HOST_DEVICE max_sum<T> operator()(const max_sum<T>& a, const max_sum<T>& b) const {
    if (b.sum == 0) return a;
    if (a.sum == 0) return b;
    const T m = a.max > b.max ? a.max : b.max;
    return {m, a.sum * std::exp(static_cast<double>(a.max) - static_cast<double>(m)) +
                   b.sum * std::exp(static_cast<double>(b.max) - static_cast<double>(m))};
  }
};

// The part of row(V) that thread t of `threads` reads: an online maximum and sum, the sum rescaled
// when the maximum grows, so the row is read once for both.
template <class T>
JUICE_HOST_DEVICE max_sum<T> row_part(const T* row, index V, index t, index threads) {
  max_sum<T> part{row[0], 0.0};  // any start: a part's maximum counts only once its sum is positive
  for (index v = t; v < V; v += threads) {
    const T x = row[v];
    if (part.sum == 0 || x > part.max) {
      part.sum = part.sum == 0 ? 0.0 : part.sum * std::exp(static_cast<double>(part.max) - static_cast<double>(x));
      part.max = x;
    }
    part.sum += x == part.max ? 1.0 : std::exp(static_cast<double>(x) - static_cast<double>(part.max));
  }
  return part;
}

// lse of a row from the (max, sum) of all its parts: the functor's expression.
template <class T>
JUICE_HOST_DEVICE T lse_of(const max_sum<T>& whole) {
  return whole.max + static_cast<T>(std::log(whole.sum));
}

#if defined(__CUDACC__)

// Row blockIdx.x of logits(M,V) becomes its log-softmax; logp[row] = its target's entry (logp may be null).
template <class T>
__global__ void __launch_bounds__(lm_head_block) log_softmax_gather_block_rows_kernel(T* logits, T* logp,
                                                                                      const int* target, index V) {
  using reduce = cub::BlockReduce<max_sum<T>, lm_head_block>;
  __shared__ typename reduce::TempStorage temp;
  __shared__ T lse_shared;
  const index m = blockIdx.x;
  T* row = logits + m * V;
  const max_sum<T> part = row_part(row, V, static_cast<index>(threadIdx.x), index{lm_head_block});
  const max_sum<T> whole = reduce(temp).Reduce(part, combine_max_sum<T>{});  // valid in thread 0
  if (threadIdx.x == 0) {
    const T lse = lse_of(whole);
    lse_shared = lse;
    if (logp) logp[m] = row[target[m]] - lse;  // read before any thread writes the row
  }
  __syncthreads();
  const T lse = lse_shared;
  for (index v = threadIdx.x; v < V; v += lm_head_block) row[v] -= lse;
}

// Row blockIdx.x of the log-probabilities becomes g (onehot(target) - softmax), as logits_to_dlogits_fn.
template <class T>
__global__ void __launch_bounds__(lm_head_block) logits_to_dlogits_block_rows_kernel(T* logits, const int* target,
                                                                                     const T* g, index V) {
  const index m = blockIdx.x;
  T* row = logits + m * V;
  const T gm = g[m];
  for (index v = threadIdx.x; v < V; v += lm_head_block) row[v] = -gm * std::exp(row[v]);
  // The target's entry after its store, as in the functor: in a register, -gm e + gm could be
  // contracted into one fused multiply-add and round differently.
  __syncthreads();
  if (threadIdx.x == 0) row[target[m]] += gm;
}

// The launchers, on `stream`, one block per row (M blocks, at most 2^31 - 1); a launch error throws
// juice::cuda_error.
inline void check_block_rows(const char* what, index M) {
  if (M > 2147483647)
    throw invalid_argument(std::string("juice::cuda::") + what + ": M = " + std::to_string(M) +
                           " rows exceed the 2^31 - 1 blocks of a launch.");
}
template <class T>
void log_softmax_gather_block_rows(cudaStream_t stream, T* logits, T* logp, const int* target, index M, index V) {
  if (M <= 0 || V <= 0) return;
  check_block_rows("log_softmax_gather_block_rows", M);
  log_softmax_gather_block_rows_kernel<T><<<static_cast<unsigned>(M), lm_head_block, 0, stream>>>(logits, logp, target, V);
  JUICE_CUDA_CHECK(cudaGetLastError());
}
template <class T>
void logits_to_dlogits_block_rows(cudaStream_t stream, T* logits, const int* target, const T* g, index M, index V) {
  if (M <= 0 || V <= 0) return;
  check_block_rows("logits_to_dlogits_block_rows", M);
  logits_to_dlogits_block_rows_kernel<T><<<static_cast<unsigned>(M), lm_head_block, 0, stream>>>(logits, target, g, V);
  JUICE_CUDA_CHECK(cudaGetLastError());
}

#endif  // __CUDACC__

}  // namespace juice::device_kernels
