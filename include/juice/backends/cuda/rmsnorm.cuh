// juice/backends/cuda/rmsnorm.cuh
//
// Root-mean-square normalisation over the last axis (Zhang & Sennrich, "Root Mean Square Layer
// Normalization", 2019; Llama, Mistral, Qwen2), no mean and no bias, as device functors with the
// contract of juice::cpu's (juice/backends/cpu/rmsnorm.hpp):
//   rmsnorm_forward(out(N,C), rstd(N), inp(N,C), w(C), eps): one row per call; the mean square is
//       accumulated in double as on the CPU; rstd may be null (inference), else overwritten
//   rmsnorm_backward(dinp(N,C), dw(C), dout(N,C), inp, w, rstd): both accumulated, without atomics:
//       dinp += rstd (w dout - x_hat mean(x_hat w dout)), x_hat = inp rstd, one row per call; dw +=
//       sum_n x_hat dout as a two-stage column reduction (juice/backends/cuda/reduce.cuh: blocks of
//       rows, then the blocks in order; deterministic) through the backend's scratch.
//       rmsnorm_backward_serial (dw one channel per call over every row) is the reference it is
//       tested against.
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"
#include "juice/backends/cuda/reduce.cuh"

namespace juice::device_kernels {

template <class T>
struct rmsnorm_forward_fn {
  T* out;
  T* rstd;
  const T* inp;
  const T* w;
  index C;
  double eps;
  JUICE_HOST_DEVICE void operator()(index n) const {
    const T* x = inp + n * C;
    double ss = 0;
    for (index c = 0; c < C; ++c) ss += static_cast<double>(x[c]) * x[c];
    const T s = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(C) + eps));
    T* o = out + n * C;
    for (index c = 0; c < C; ++c) o[c] = x[c] * s * w[c];
    if (rstd) rstd[n] = s;
  }
};

// dinp row n += (w dout - x_hat mean(w dout x_hat)) rstd
template <class T>
struct rmsnorm_dinp_fn {
  T* dinp;
  const T* dout;
  const T* inp;
  const T* w;
  const T* rstd;
  index C;
  JUICE_HOST_DEVICE void operator()(index n) const {
    const T* d = dout + n * C;
    const T* x = inp + n * C;
    T* dx = dinp + n * C;
    const T s = rstd[n];
    T dnorm_norm_mean = 0;
    for (index c = 0; c < C; ++c) dnorm_norm_mean += w[c] * d[c] * x[c] * s;
    dnorm_norm_mean /= static_cast<T>(C);
    for (index c = 0; c < C; ++c) dx[c] += (w[c] * d[c] - x[c] * s * dnorm_norm_mean) * s;
  }
};

// The summand of dw at (n, c): x_hat dout.
template <class T>
struct rmsnorm_dw_term {
  const T* dout;
  const T* inp;
  const T* rstd;
  index C;
  JUICE_HOST_DEVICE T operator()(index n, index c) const { return inp[n * C + c] * rstd[n] * dout[n * C + c]; }
};

// dw[c] += sum_n x_hat(n,c) dout(n,c), one channel per call over every row in order.
template <class T>
struct rmsnorm_dw_fn {
  T* dw;
  rmsnorm_dw_term<T> term;
  index N;
  JUICE_HOST_DEVICE void operator()(index c) const {
    T s = 0;
    for (index n = 0; n < N; ++n) s += term(n, c);
    dw[c] += s;
  }
};

template <class Exec, class T>
void rmsnorm_forward(Exec&& exec, T* out, T* rstd, const T* inp, const T* w, index N, index C, double eps) {
  for_each_index(exec, N, rmsnorm_forward_fn<T>{out, rstd, inp, w, C, eps});
}

// The reference: dw one channel per call over every row.
template <class Exec, class T>
void rmsnorm_backward_serial(Exec&& exec, T* dinp, T* dw, const T* dout, const T* inp, const T* w, const T* rstd,
                             index N, index C) {
  for_each_index(exec, N, rmsnorm_dinp_fn<T>{dinp, dout, inp, w, rstd, C});
  for_each_index(exec, C, rmsnorm_dw_fn<T>{dw, rmsnorm_dw_term<T>{dout, inp, rstd, C}, N});
}

// scratch holds column_scratch_size(N, C) elements.
template <class Exec, class T>
void rmsnorm_backward(Exec&& exec, T* dinp, T* dw, const T* dout, const T* inp, const T* w, const T* rstd, index N,
                      index C, T* scratch) {
  for_each_index(exec, N, rmsnorm_dinp_fn<T>{dinp, dout, inp, w, rstd, C});
  column_sum(exec, dw, scratch, rmsnorm_dw_term<T>{dout, inp, rstd, C}, N, C);
}

}  // namespace juice::device_kernels
