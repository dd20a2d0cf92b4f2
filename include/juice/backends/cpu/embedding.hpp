// juice/backends/cpu/embedding.hpp
//
// Token + position embedding (GPT-2's learned positions):
//   forward:  out(N,C) = wte[tokens[n]] + wpe[positions[n]]
//   backward: dwte[tokens[n]] += dout[n], dwpe[positions[n]] += dout[n]   (accumulated)
// Row gathers/scatters for heads that read a subset of positions:
//   gather_rows:      out(M,C) = inp[index[m]]
//   scatter_add_rows: dinp[index[m]] += dout(M,C)
// Index arrays live in host memory for this backend.
#pragma once

#include <cstddef>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

template <class T>
void embedding_forward(T* out, const int* tokens, const int* positions, const T* wte, const T* wpe, std::ptrdiff_t N,
                       std::ptrdiff_t C) {
  JUICE_OMP(omp parallel for schedule(static) if (N * C > streaming_threshold))
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    const T* w = wte + static_cast<std::ptrdiff_t>(tokens[n]) * C;
    const T* p = wpe + static_cast<std::ptrdiff_t>(positions[n]) * C;
    T* o = out + n * C;
    for (std::ptrdiff_t c = 0; c < C; ++c) o[c] = w[c] + p[c];
  }
}

// Serial over rows: two rows may share a token or position.
template <class T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const int* tokens, const int* positions, std::ptrdiff_t N,
                        std::ptrdiff_t C) {
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    T* w = dwte + static_cast<std::ptrdiff_t>(tokens[n]) * C;
    T* p = dwpe + static_cast<std::ptrdiff_t>(positions[n]) * C;
    const T* d = dout + n * C;
    for (std::ptrdiff_t c = 0; c < C; ++c) {
      w[c] += d[c];
      p[c] += d[c];
    }
  }
}

template <class T>
void gather_rows(T* out, const T* inp, const int* index, std::ptrdiff_t M, std::ptrdiff_t C) {
  JUICE_OMP(omp parallel for schedule(static) if (M * C > streaming_threshold))
  for (std::ptrdiff_t m = 0; m < M; ++m) {
    const T* src = inp + static_cast<std::ptrdiff_t>(index[m]) * C;
    for (std::ptrdiff_t c = 0; c < C; ++c) out[m * C + c] = src[c];
  }
}

template <class T>
void scatter_add_rows(T* dinp, const T* dout, const int* index, std::ptrdiff_t M, std::ptrdiff_t C) {
  for (std::ptrdiff_t m = 0; m < M; ++m) {
    T* dst = dinp + static_cast<std::ptrdiff_t>(index[m]) * C;
    for (std::ptrdiff_t c = 0; c < C; ++c) dst[c] += dout[m * C + c];
  }
}

}  // namespace juice::cpu_kernels
