// juice/backends/cuda/swiglu.cuh
//
// The SiLU-gated linear unit of Llama's MLP (Shazeer, "GLU Variants Improve Transformer", 2020) as
// device functors, with the contract of juice::cpu's (juice/backends/cpu/swiglu.hpp), on packed
// projections inp(N,2H) = [gate | up] per row, one element (n, i) per call:
//   swiglu_forward(out(N,H), inp(N,2H)):           out = silu(gate) up, silu(g) = g sigmoid(g)
//   swiglu_backward(dinp(N,2H), inp, dout(N,H)):   dinp = [dout up silu'(gate) | dout silu(gate)],
//       silu'(g) = sigmoid(g) (1 + g (1 - sigmoid(g))), overwritten; dinp may alias inp (each call
//       reads its gate and up before writing the same two elements, which no other call touches)
// The sigmoid is 1/(1+t) or t/(1+t) from t = exp(-|g|) <= 1, so it never overflows; the device's
// exp is used in both precisions, where the CPU's float path uses a polynomial exp, so float
// results agree to about 1e-7 relative, not bit for bit.
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

namespace detail {

template <class T>
JUICE_HOST_DEVICE T sigmoid(T g) {
  const T t = std::exp(-std::fabs(g));
  const T r = T(1) / (T(1) + t);
  return g >= T(0) ? r : t * r;
}

}  // namespace detail

template <class T>
struct swiglu_forward_fn {
  T* out;
  const T* inp;
  index H;
  JUICE_HOST_DEVICE void operator()(index j) const {
    const index n = j / H, i = j % H;
    const T g = inp[2 * n * H + i], u = inp[2 * n * H + H + i];
    out[j] = g * detail::sigmoid(g) * u;
  }
};

template <class T>
struct swiglu_backward_fn {
  T* dinp;
  const T* inp;
  const T* dout;
  index H;
  JUICE_HOST_DEVICE void operator()(index j) const {
    const index n = j / H, i = j % H, gi = 2 * n * H + i;
    const T g = inp[gi], u = inp[gi + H], d = dout[j], s = detail::sigmoid(g);
    dinp[gi] = d * u * s * (T(1) + g * (T(1) - s));
    dinp[gi + H] = d * g * s;
  }
};

template <class Exec, class T>
void swiglu_forward(Exec&& exec, T* out, const T* inp, index N, index H) {
  for_each_index(exec, N * H, swiglu_forward_fn<T>{out, inp, H});
}

template <class Exec, class T>
void swiglu_backward(Exec&& exec, T* dinp, const T* inp, const T* dout, index N, index H) {
  for_each_index(exec, N * H, swiglu_backward_fn<T>{dinp, inp, dout, H});
}

}  // namespace juice::device_kernels
