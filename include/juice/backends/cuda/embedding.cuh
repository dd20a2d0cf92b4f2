// juice/backends/cuda/embedding.cuh
//
// Token + position embedding and the row gathers of the heads, as device functors:
//   embedding_forward(out(N,C), tok(N), pos(N), wte(V,C), wpe(P,C)):  out = wte[tok] + wpe[pos]
//                                                     one element (n,c) per call
//   embedding_backward(dwte, dwpe, dout(N,C), tok, pos): dwte[tok] += dout, dwpe[pos] += dout
//       without atomics, deterministic, and equal bit for bit to the CPU's serial sum: two rows may
//       share a token (or a position), so the rows are first grouped by id, then one call per
//       (id, channel) adds that id's rows in row order onto the gradient (the CPU's order of
//       additions). The grouping is a stable sort of the N keys id * 2^32 + row, a merge sort of
//       log2 N passes, one element per call each (its place in the merged run found by binary
//       search in the other run), ping-ponging between two arrays of the backend's scratch: no
//       allocation, no sort library, nothing proportional to the vocabulary. Work: O(N log^2 N)
//       for the sort, N C for the sums (a call whose row does not start an id returns at once).
//       embedding_backward_serial (one channel per call over every row, in order) is the reference
//       it is tested against; it parallelises over C only.
//   gather_rows(out(M,C), inp, index(M)):             out = inp[index]          one element per call
//   scatter_add_rows(dinp, dout(M,C), index(M)):      dinp[index] += dout       one element per call
//                                                     (the contract promises distinct indices)
#pragma once

#include <cstdint>

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

// The reference: one channel per call, every row in order.
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
void embedding_backward_serial(Exec&& exec, T* dwte, T* dwpe, const T* dout, const int* tok, const int* pos, index N,
                               index C) {
  for_each_index(exec, C, embedding_backward_fn<T>{dwte, dwpe, dout, tok, pos, N, C});
}

// key[n] = id[n] * 2^32 + n: distinct keys whose order is by id, then by row.
struct id_row_key_fn {
  std::uint64_t* key;
  const int* id;
  JUICE_HOST_DEVICE void operator()(index n) const {
    key[n] = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(id[n])) << 32) | static_cast<std::uint64_t>(n);
  }
};

// One merge pass over sorted runs of `width` keys: runs 2j and 2j+1 become one sorted run of
// out. Keys are distinct, so an element's place is its offset in its own run plus the number of
// keys of the other run below it (a binary search).
struct merge_pass_fn {
  std::uint64_t* out;
  const std::uint64_t* in;
  index N, width;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const index run = i / width, base = (run / 2) * 2 * width;
    const index a_end = base + width < N ? base + width : N;
    const index b_end = base + 2 * width < N ? base + 2 * width : N;
    const bool left = run % 2 == 0;
    const index lo0 = left ? a_end : base, hi0 = left ? b_end : a_end;  // the other run
    const std::uint64_t v = in[i];
    index lo = lo0, hi = hi0;
    while (lo < hi) {
      const index mid = lo + (hi - lo) / 2;
      if (in[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    out[base + (i - (left ? base : a_end)) + (lo - lo0)] = v;
  }
};

// Sorts the keys id[n] * 2^32 + n of n < N; a and b hold N keys each; returns the one that holds
// the result.
template <class Exec>
std::uint64_t* sort_rows_by_id(Exec&& exec, const int* id, index N, std::uint64_t* a, std::uint64_t* b) {
  for_each_index(exec, N, id_row_key_fn{a, id});
  for (index width = 1; width < N; width *= 2) {
    for_each_index(exec, N, merge_pass_fn{b, a, N, width});
    std::uint64_t* t = a;
    a = b;
    b = t;
  }
  return a;
}

// grad[id] += dout over the rows of each id, in row order: one (sorted position i, channel c) per
// call, adjacent calls on adjacent channels; only the first position of each id does the work.
template <class T>
struct add_rows_by_id_fn {
  T* grad;
  const T* dout;
  const std::uint64_t* sorted;
  index N, C;
  JUICE_HOST_DEVICE void operator()(index k) const {
    const index i = k / C, c = k % C;
    const std::uint64_t id = sorted[i] >> 32;
    if (i > 0 && (sorted[i - 1] >> 32) == id) return;
    T* g = grad + static_cast<index>(id) * C + c;
    T s = *g;
    for (index j = i; j < N && (sorted[j] >> 32) == id; ++j)
      s += dout[static_cast<index>(sorted[j] & 0xffffffffu) * C + c];
    *g = s;
  }
};

// Elements of std::uint64_t scratch embedding_backward needs: two arrays of N keys.
[[nodiscard]] constexpr index embedding_scratch_size(index N) { return 2 * N; }

// scratch holds embedding_scratch_size(N) keys; N < 2^32 (the row lives in the key's low half).
template <class Exec, class T>
void embedding_backward(Exec&& exec, T* dwte, T* dwpe, const T* dout, const int* tok, const int* pos, index N, index C,
                        std::uint64_t* scratch) {
  if (N <= 0 || C <= 0) return;
  const std::uint64_t* by_tok = sort_rows_by_id(exec, tok, N, scratch, scratch + N);
  for_each_index(exec, N * C, add_rows_by_id_fn<T>{dwte, dout, by_tok, N, C});
  const std::uint64_t* by_pos = sort_rows_by_id(exec, pos, N, scratch, scratch + N);
  for_each_index(exec, N * C, add_rows_by_id_fn<T>{dwpe, dout, by_pos, N, C});
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
