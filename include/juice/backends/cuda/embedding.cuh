// juice/backends/cuda/embedding.cuh
//
// Token + position embedding and the row gathers of the heads, as device functors:
//   embedding_forward(out(N,C), tok(N), pos(N), wte(V,C), wpe(P,C)):  out = wte[tok] + wpe[pos]
//                                                     one element (n,c) per call
//   embedding_backward(dwte, dwpe, dout(N,C), tok, pos): dwte[tok] += dout, dwpe[pos] += dout
//                                                     one channel c per call, rows in order: two
//                                                     rows may share a token, so rows are never
//                                                     split across threads (no atomics: the result
//                                                     is deterministic and equals the CPU's serial sum)
//   gather_rows(out(M,C), inp, index(M)):             out = inp[index]          one element per call
//   scatter_add_rows(dinp, dout(M,C), index(M)):      dinp[index] += dout       one element per call
//                                                     (the contract promises distinct indices)
#pragma once

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

template <class T>
struct embedding_forward_fn {
  T* out;
  const int* tok;
  const int* pos;
  const T* wte;
  const T* wpe;
  index C;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const index n = i / C, c = i % C;
    out[i] = wte[static_cast<index>(tok[n]) * C + c] + wpe[static_cast<index>(pos[n]) * C + c];
  }
};

template <class T>
struct embedding_backward_fn {
  T* dwte;
  T* dwpe;
  const T* dout;
  const int* tok;
  const int* pos;
  index N, C;
  JUICE_HOST_DEVICE void operator()(index c) const {
    for (index n = 0; n < N; ++n) {
      const T d = dout[n * C + c];
      dwte[static_cast<index>(tok[n]) * C + c] += d;
      dwpe[static_cast<index>(pos[n]) * C + c] += d;
    }
  }
};

template <class T>
struct gather_rows_fn {
  T* out;
  const T* inp;
  const int* idx;
  index C;
  JUICE_HOST_DEVICE void operator()(index i) const { out[i] = inp[static_cast<index>(idx[i / C]) * C + i % C]; }
};

template <class T>
struct scatter_add_rows_fn {
  T* dinp;
  const T* dout;
  const int* idx;
  index C;
  JUICE_HOST_DEVICE void operator()(index i) const { dinp[static_cast<index>(idx[i / C]) * C + i % C] += dout[i]; }
};

template <class Exec, class T>
void embedding_forward(Exec&& exec, T* out, const int* tok, const int* pos, const T* wte, const T* wpe, index N, index C) {
  for_each_index(exec, N * C, embedding_forward_fn<T>{out, tok, pos, wte, wpe, C});
}

template <class Exec, class T>
void embedding_backward(Exec&& exec, T* dwte, T* dwpe, const T* dout, const int* tok, const int* pos, index N, index C) {
  for_each_index(exec, C, embedding_backward_fn<T>{dwte, dwpe, dout, tok, pos, N, C});
}

template <class Exec, class T>
void gather_rows(Exec&& exec, T* out, const T* inp, const int* idx, index M, index C) {
  for_each_index(exec, M * C, gather_rows_fn<T>{out, inp, idx, C});
}

template <class Exec, class T>
void scatter_add_rows(Exec&& exec, T* dinp, const T* dout, const int* idx, index M, index C) {
  for_each_index(exec, M * C, scatter_add_rows_fn<T>{dinp, dout, idx, C});
}

}  // namespace juice::device_kernels
