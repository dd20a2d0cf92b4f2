// juice/backends/cpu/attention_reference.hpp
//
// The reference causal attention: plain loops that store the full softmax probabilities
// att(B,NH,T,T) (zero above the diagonal), one query row at a time. It is the test oracle for the
// tiled kernels of attention.hpp (tests compare them to float rounding and time them against each
// other in benchmarks/cpu); no backend calls it. Layout as in attention.hpp: qkv(B,T,3C) packs q, k,
// v; head h uses channels [h*hs, (h+1)*hs), hs = C/NH; scale 1/sqrt(hs).
//   attention_forward:  out(B,T,C), att(B,NH,T,T), both overwritten
//   attention_backward: dqkv(B,T,3C) overwritten from dout(B,T,C), att, qkv
// (b, head) pairs run in parallel; each writes only its own slice.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels::reference {

template <class T>
void attention_forward(T* out, T* att, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t Tn, std::ptrdiff_t C,
                       std::ptrdiff_t NH) {
  const std::ptrdiff_t hs = C / NH, C3 = 3 * C;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
  JUICE_OMP(omp parallel for collapse(2) schedule(static) if (B * NH * Tn * Tn * hs > parallel_threshold))
  for (std::ptrdiff_t b = 0; b < B; ++b)
    for (std::ptrdiff_t h = 0; h < NH; ++h) {
      for (std::ptrdiff_t t = 0; t < Tn; ++t) {
        const T* q = qkv + (b * Tn + t) * C3 + h * hs;
        T* a = att + ((b * NH + h) * Tn + t) * Tn;
        T maxv = -std::numeric_limits<T>::infinity();
        for (std::ptrdiff_t t2 = 0; t2 <= t; ++t2) {
          const T* k = qkv + (b * Tn + t2) * C3 + C + h * hs;
          T s = 0;
          for (std::ptrdiff_t i = 0; i < hs; ++i) s += q[i] * k[i];
          s *= scale;
          a[t2] = s;
          maxv = std::max(maxv, s);
        }
        T sum = 0;
        for (std::ptrdiff_t t2 = 0; t2 <= t; ++t2) {
          a[t2] = std::exp(a[t2] - maxv);
          sum += a[t2];
        }
        const T inv = T(1) / sum;
        for (std::ptrdiff_t t2 = 0; t2 <= t; ++t2) a[t2] *= inv;
        for (std::ptrdiff_t t2 = t + 1; t2 < Tn; ++t2) a[t2] = 0;
        T* o = out + (b * Tn + t) * C + h * hs;
        for (std::ptrdiff_t i = 0; i < hs; ++i) o[i] = 0;
        for (std::ptrdiff_t t2 = 0; t2 <= t; ++t2) {
          const T* v = qkv + (b * Tn + t2) * C3 + 2 * C + h * hs;
          const T w = a[t2];
          for (std::ptrdiff_t i = 0; i < hs; ++i) o[i] += w * v[i];
        }
      }
    }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* att, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t Tn,
                        std::ptrdiff_t C, std::ptrdiff_t NH) {
  const std::ptrdiff_t hs = C / NH, C3 = 3 * C;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
  JUICE_OMP(omp parallel if (B * NH * Tn * Tn * hs > parallel_threshold))
  {
    std::vector<T> datt(static_cast<std::size_t>(Tn));
    JUICE_OMP(omp for collapse(2) schedule(static))
    for (std::ptrdiff_t b = 0; b < B; ++b)
      for (std::ptrdiff_t h = 0; h < NH; ++h) {
        for (std::ptrdiff_t t = 0; t < Tn; ++t)
          for (std::ptrdiff_t part = 0; part < 3; ++part)
            std::fill_n(dqkv + (b * Tn + t) * C3 + part * C + h * hs, hs, T(0));
        for (std::ptrdiff_t t = 0; t < Tn; ++t) {
          const T* a = att + ((b * NH + h) * Tn + t) * Tn;
          const T* d = dout + (b * Tn + t) * C + h * hs;
          const T* q = qkv + (b * Tn + t) * C3 + h * hs;
          T* dq = dqkv + (b * Tn + t) * C3 + h * hs;
          T dot = 0;
          for (std::ptrdiff_t t2 = 0; t2 <= t; ++t2) {
            const T* v = qkv + (b * Tn + t2) * C3 + 2 * C + h * hs;
            T* dv = dqkv + (b * Tn + t2) * C3 + 2 * C + h * hs;
            T s = 0;
            for (std::ptrdiff_t i = 0; i < hs; ++i) {
              s += d[i] * v[i];
              dv[i] += a[t2] * d[i];
            }
            datt[static_cast<std::size_t>(t2)] = s;
            dot += a[t2] * s;
          }
          for (std::ptrdiff_t t2 = 0; t2 <= t; ++t2) {
            const T dpre = a[t2] * (datt[static_cast<std::size_t>(t2)] - dot) * scale;
            const T* k = qkv + (b * Tn + t2) * C3 + C + h * hs;
            T* dk = dqkv + (b * Tn + t2) * C3 + C + h * hs;
            for (std::ptrdiff_t i = 0; i < hs; ++i) {
              dq[i] += dpre * k[i];
              dk[i] += dpre * q[i];
            }
          }
        }
      }
  }
}

}  // namespace juice::cpu_kernels::reference
