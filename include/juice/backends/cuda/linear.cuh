// juice/backends/cuda/linear.cuh
//
// The element-wise parts of a linear layer around a GEMM that has no bias epilogue (cuBLAS's plain
// GEMM): out(N,OC) += bias(OC) broadcast over rows, one element per call; dbias(OC) += sum_n
// dout(N,OC) as a two-stage column reduction (juice/backends/cuda/reduce.cuh: blocks of rows, then
// the blocks in order; deterministic, no atomics) through the backend's scratch. bias_grad_serial,
// one output channel per call summing every row in order, is the reference it is tested against.
#pragma once

#include "juice/backends/cuda/launch.hpp"
#include "juice/backends/cuda/reduce.cuh"

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

// dout[n*OC + o], the summand of the bias gradient
template <class T>
struct bias_grad_term {
  const T* dout;
  index OC;
  JUICE_HOST_DEVICE T operator()(index n, index o) const { return dout[n * OC + o]; }
};

template <class Exec, class T>
void add_bias(Exec&& exec, T* out, const T* bias, index N, index OC) {
  for_each_index(exec, N * OC, add_bias_fn<T>{out, bias, OC});
}

// The reference: one channel per call over every row.
template <class Exec, class T>
void bias_grad_serial(Exec&& exec, T* dbias, const T* dout, index N, index OC) {
  for_each_index(exec, OC, bias_grad_fn<T>{dbias, dout, N, OC});
}

// scratch holds column_scratch_size(N, OC) elements.
template <class Exec, class T>
void bias_grad(Exec&& exec, T* dbias, const T* dout, index N, index OC, T* scratch) {
  column_sum(exec, dbias, scratch, bias_grad_term<T>{dout, OC}, N, OC);
}

}  // namespace juice::device_kernels
