// juice/backends/cuda/linear.cuh
//
// The element-wise parts of a linear layer around a GEMM that has no bias epilogue (cuBLAS's plain
// GEMM): out(N,OC) += bias(OC) broadcast over rows, one element per call; dbias(OC) += sum_n
// dout(N,OC), one output channel per call summing the rows in order (deterministic, no atomics).
#pragma once

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

template <class T>
struct add_bias_fn {
  T* out;
  const T* bias;
  index OC;
  JUICE_HOST_DEVICE void operator()(index i) const { out[i] += bias[i % OC]; }
};

template <class T>
struct bias_grad_fn {
  T* dbias;
  const T* dout;
  index N, OC;
  JUICE_HOST_DEVICE void operator()(index o) const {
    T s = 0;
    for (index n = 0; n < N; ++n) s += dout[n * OC + o];
    dbias[o] += s;
  }
};

template <class Exec, class T>
void add_bias(Exec&& exec, T* out, const T* bias, index N, index OC) {
  for_each_index(exec, N * OC, add_bias_fn<T>{out, bias, OC});
}

template <class Exec, class T>
void bias_grad(Exec&& exec, T* dbias, const T* dout, index N, index OC) {
  for_each_index(exec, OC, bias_grad_fn<T>{dbias, dout, N, OC});
}

}  // namespace juice::device_kernels
