// juice/backends/cuda/layernorm.cuh
//
// Layer normalisation over the last axis (eps = 1e-5, as GPT-2), as device functors:
//   layernorm_forward(out(N,C), mean(N), rstd(N), inp(N,C), w(C), b(C)): one row per call; the
//       statistics are accumulated in double as on the CPU; mean and rstd may be null (inference)
//   layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd): all accumulated, without atomics:
//       dinp one row per call; dw and db as two-stage column reductions (juice/backends/cuda/
//       reduce.cuh: blocks of rows, then the blocks in order; deterministic) through the backend's
//       scratch. layernorm_backward_serial (dw, db one channel per call over every row) is the
//       reference it is tested against.
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"
#include "juice/backends/cuda/reduce.cuh"

namespace juice::device_kernels {

template <class T>
struct layernorm_forward_fn {
  T* out;
  T* mean;
  T* rstd;
  const T* inp;
  const T* w;
  const T* b;
  index C;
  JUICE_HOST_DEVICE void operator()(index n) const {
    const T* x = inp + n * C;
    double m = 0;
    for (index c = 0; c < C; ++c) m += x[c];
    m /= static_cast<double>(C);
    double v = 0;
    for (index c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    v /= static_cast<double>(C);
    const T s = static_cast<T>(1.0 / std::sqrt(v + 1e-5));
    const T mt = static_cast<T>(m);
    T* o = out + n * C;
    for (index c = 0; c < C; ++c) o[c] = (x[c] - mt) * s * w[c] + b[c];
    if (mean) mean[n] = mt;
    if (rstd) rstd[n] = s;
  }
};

// dinp row n += (dnorm - mean(dnorm) - norm mean(dnorm norm)) rstd, dnorm = w dout
template <class T>
struct layernorm_dinp_fn {
  T* dinp;
  const T* dout;
  const T* inp;
  const T* w;
  const T* mean;
  const T* rstd;
  index C;
  JUICE_HOST_DEVICE void operator()(index n) const {
    const T* d = dout + n * C;
    const T* x = inp + n * C;
    T* dx = dinp + n * C;
    const T m = mean[n], s = rstd[n];
    T dnorm_mean = 0, dnorm_norm_mean = 0;
    for (index c = 0; c < C; ++c) {
      const T norm = (x[c] - m) * s;
      const T dnorm = w[c] * d[c];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= static_cast<T>(C);
    dnorm_norm_mean /= static_cast<T>(C);
    for (index c = 0; c < C; ++c) {
      const T norm = (x[c] - m) * s;
      dx[c] += (w[c] * d[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
};

// dw[c] += sum_n norm(n,c) dout(n,c);  db[c] += sum_n dout(n,c)
template <class T>
struct layernorm_dparams_fn {
  T* dw;
  T* db;
  const T* dout;
  const T* inp;
  const T* mean;
  const T* rstd;
  index N, C;
  JUICE_HOST_DEVICE void operator()(index c) const {
    T sw = 0, sb = 0;
    for (index n = 0; n < N; ++n) {
      const T d = dout[n * C + c];
      sw += (inp[n * C + c] - mean[n]) * rstd[n] * d;
      sb += d;
    }
    dw[c] += sw;
    db[c] += sb;
  }
};

// The summands of dw and db at (n, c).
template <class T>
struct layernorm_dw_term {
  const T* dout;
  const T* inp;
  const T* mean;
  const T* rstd;
  index C;
  JUICE_HOST_DEVICE T operator()(index n, index c) const { return (inp[n * C + c] - mean[n]) * rstd[n] * dout[n * C + c]; }
};
template <class T>
struct layernorm_db_term {
  const T* dout;
  index C;
  JUICE_HOST_DEVICE T operator()(index n, index c) const { return dout[n * C + c]; }
};

template <class Exec, class T>
void layernorm_forward(Exec&& exec, T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, index N, index C) {
  for_each_index(exec, N, layernorm_forward_fn<T>{out, mean, rstd, inp, w, b, C});
}

// The reference: dw and db one channel per call over every row.
template <class Exec, class T>
void layernorm_backward_serial(Exec&& exec, T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w,
                               const T* mean, const T* rstd, index N, index C) {
  for_each_index(exec, N, layernorm_dinp_fn<T>{dinp, dout, inp, w, mean, rstd, C});
  for_each_index(exec, C, layernorm_dparams_fn<T>{dw, db, dout, inp, mean, rstd, N, C});
}

// scratch holds column_scratch_size(N, C) elements (dw's reduction, then db's, reuse it in order).
template <class Exec, class T>
void layernorm_backward(Exec&& exec, T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                        const T* rstd, index N, index C, T* scratch) {
  for_each_index(exec, N, layernorm_dinp_fn<T>{dinp, dout, inp, w, mean, rstd, C});
  column_sum(exec, dw, scratch, layernorm_dw_term<T>{dout, inp, mean, rstd, C}, N, C);
  column_sum(exec, db, scratch, layernorm_db_term<T>{dout, C}, N, C);
}

}  // namespace juice::device_kernels
