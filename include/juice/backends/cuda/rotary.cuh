// juice/backends/cuda/rotary.cuh
//
// Rotary position embedding (Su et al., "RoFormer", 2021) as device functors, with the contract of
// juice::cpu's (juice/backends/cpu/rotary.hpp): in place on the query and key heads of packed
// projections qkv(N,W), W = C + 2 Ckv, NH query heads then NKV key heads of hs = C/NH channels
// (the value heads untouched); row n at position pos[n]; the first rot_dim channels of each head
// turn in the rotate-half layout (channel i < half = rot_dim/2 pairs with i + half, angle
// pos theta^(-2i/rot_dim)):
//   rotary_forward(qkv(N,W), pos(N)):   rotated by +angle
//   rotary_backward(dqkv(N,W), pos(N)): rotated by -angle (the gradient of the forward rotation)
// One (row n, pair i) per call: its angle, cosine and sine are computed once, in double for every
// element type as on the CPU, and turn pair i of all NH + NKV heads of the row. Every pair has one
// owner, and adjacent calls touch adjacent channels.
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

template <class T>
struct rotary_fn {
  T* qkv;          // (N,W)
  const int* pos;  // (N)
  index W, hs, heads, half, rot_dim;
  double theta, sign;  // sign +1 forward, -1 backward
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index n = r / half, i = r % half;
    const double inv_freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rot_dim));
    const double angle = static_cast<double>(pos[n]) * inv_freq;
    const T c = static_cast<T>(std::cos(angle)), s = static_cast<T>(sign * std::sin(angle));
    T* row = qkv + n * W;
    for (index h = 0; h < heads; ++h) {
      T* x = row + h * hs;
      const T a = x[i], b = x[i + half];
      x[i] = a * c - b * s;
      x[i + half] = b * c + a * s;
    }
  }
};

template <class Exec, class T>
void rotary_turn(Exec&& exec, T* qkv, const int* pos, index N, index C, index NH, index NKV, index rot_dim,
                 double theta, double sign) {
  const index hs = C / NH, half = rot_dim / 2;
  if (half <= 0) return;
  for_each_index(exec, N * half, rotary_fn<T>{qkv, pos, C + 2 * NKV * hs, hs, NH + NKV, half, rot_dim, theta, sign});
}

template <class Exec, class T>
void rotary_forward(Exec&& exec, T* qkv, const int* pos, index N, index C, index NH, index NKV, index rot_dim,
                    double theta) {
  rotary_turn(exec, qkv, pos, N, C, NH, NKV, rot_dim, theta, 1.0);
}

template <class Exec, class T>
void rotary_backward(Exec&& exec, T* dqkv, const int* pos, index N, index C, index NH, index NKV, index rot_dim,
                     double theta) {
  rotary_turn(exec, dqkv, pos, N, C, NH, NKV, rot_dim, theta, -1.0);
}

}  // namespace juice::device_kernels
