// juice/backends/cpu/rotary.hpp
//
// Rotary position embedding (Su et al., "RoFormer", 2021) applied in place to the query and key
// heads of packed projections qkv(N,W), laid out as attention.hpp states (W = C + 2 Ckv, NH query
// heads then NKV key heads of hs = C/NH channels; the value heads are left alone). Row n is at
// position pos[n]. Only the first rot_dim channels of each head turn (partial rotary, GPT-NeoX's
// rotary_pct; rot_dim even, <= hs), in the rotate-half layout of GPT-NeoX and of Hugging Face's
// Llama: with half = rot_dim/2, channel i < half pairs with i + half and the pair turns by the angle
// pos * theta^(-2i/rot_dim):
//   x'_i = x_i cos - x_{i+half} sin,   x'_{i+half} = x_{i+half} cos + x_i sin.
//   rotary_forward:  qkv's q and k heads rotated by +angle (in place)
//   rotary_backward: dqkv's q and k heads rotated by -angle (in place): a rotation is orthogonal, so
//                    the gradient with respect to its input is the inverse rotation of the output's.
// Angles, cosines and sines are computed in double for every element type, once per row for all
// its heads.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

namespace detail {

template <class T>
void rotary_turn(T* qkv, const int* pos, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV,
                 std::ptrdiff_t rot_dim, double theta, double sign) {
  const std::ptrdiff_t hs = C / NH, W = C + 2 * NKV * hs, half = rot_dim / 2, heads = NH + NKV;
  std::vector<double> inv_freq(static_cast<std::size_t>(half));
  for (std::ptrdiff_t i = 0; i < half; ++i)
    inv_freq[static_cast<std::size_t>(i)] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rot_dim));
  JUICE_OMP(omp parallel if (N * heads * rot_dim > streaming_threshold))
  {
    std::vector<T> cs(static_cast<std::size_t>(half)), sn(static_cast<std::size_t>(half));
    JUICE_OMP(omp for schedule(static))
    for (std::ptrdiff_t n = 0; n < N; ++n) {
      const double p = static_cast<double>(pos[n]);
      for (std::ptrdiff_t i = 0; i < half; ++i) {
        const double angle = p * inv_freq[static_cast<std::size_t>(i)];
        cs[static_cast<std::size_t>(i)] = static_cast<T>(std::cos(angle));
        sn[static_cast<std::size_t>(i)] = static_cast<T>(sign * std::sin(angle));
      }
      // The q heads and the k heads are contiguous: heads x hs channels from the row's start.
      for (std::ptrdiff_t h = 0; h < heads; ++h) {
        T* x = qkv + n * W + h * hs;
        JUICE_OMP(omp simd)
        for (std::ptrdiff_t i = 0; i < half; ++i) {
          const T a = x[i], b = x[i + half], c = cs[static_cast<std::size_t>(i)], s = sn[static_cast<std::size_t>(i)];
          x[i] = a * c - b * s;
          x[i + half] = b * c + a * s;
        }
      }
    }
  }
}

}  // namespace detail

template <class T>
void rotary_forward(T* qkv, const int* pos, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV,
                    std::ptrdiff_t rot_dim, double theta) {
  detail::rotary_turn(qkv, pos, N, C, NH, NKV, rot_dim, theta, 1.0);
}

template <class T>
void rotary_backward(T* dqkv, const int* pos, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV,
                     std::ptrdiff_t rot_dim, double theta) {
  detail::rotary_turn(dqkv, pos, N, C, NH, NKV, rot_dim, theta, -1.0);
}

}  // namespace juice::cpu_kernels
