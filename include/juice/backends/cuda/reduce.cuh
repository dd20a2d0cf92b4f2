// juice/backends/cuda/reduce.cuh
//
// Deterministic reductions without atomics, in two (or more) stages through a scratch buffer that
// the backend keeps between calls (juice::device_primitives::scratch), so that no step allocates:
//   reduce_sum(result(1), scratch, f, n):  *result = sum_{i<n} f(i): chunks of reduce_chunk
//       consecutive terms are summed in order by one call each, then chunks of those partial sums,
//       until one value is left; written on the device (a caller that wants it on the host downloads
//       one value). The order of the additions depends only on n, never on the hardware.
//   column_sum(out(cols), scratch, term, N, cols):  out[c] += sum_{n<N} term(n, c): stage 1 sums
//       blocks of column_block_rows rows, one (block, column) per call (adjacent calls read adjacent
//       columns: coalesced on a GPU), stage 2 adds each column's block sums in block order.
// The serial functors they replace (one call per output summing every row) stay beside them in
// linear.cuh and layernorm.cuh as the reference they are tested against.
#pragma once

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

inline constexpr index reduce_chunk = 256;      // terms per call of each reduce_sum stage
inline constexpr index column_block_rows = 64;  // rows per stage-1 block of column_sum

// out[b] = sum of f(i) over chunk b of [0, n), in order.
template <class A, class F>
struct chunk_sum_fn {
  A* out;
  F f;
  index n, chunk;
  JUICE_HOST_DEVICE void operator()(index b) const {
    A s = 0;
    const index end = (b + 1) * chunk < n ? (b + 1) * chunk : n;
    for (index i = b * chunk; i < end; ++i) s += f(i);
    out[b] = s;
  }
};

// x[i], the term of a later reduce_sum stage.
template <class A>
struct load_fn {
  const A* x;
  JUICE_HOST_DEVICE A operator()(index i) const { return x[i]; }
};

[[nodiscard]] constexpr index ceil_div(index a, index b) { return (a + b - 1) / b; }

// Elements of scratch reduce_sum(n) needs: the partial sums of every stage but the last.
[[nodiscard]] constexpr index reduce_scratch_size(index n, index chunk = reduce_chunk) {
  index total = 0;
  for (index m = ceil_div(n, chunk); m > 1; m = ceil_div(m, chunk)) total += m;
  return total;
}

// *result = sum_{i<n} f(i) (n >= 1); scratch holds reduce_scratch_size(n, chunk) elements.
template <class Exec, class A, class F>
void reduce_sum(Exec&& exec, A* result, A* scratch, F f, index n, index chunk = reduce_chunk) {
  index m = ceil_div(n, chunk);
  A* cur = m == 1 ? result : scratch;
  for_each_index(exec, m, chunk_sum_fn<A, F>{cur, f, n, chunk});
  while (m > 1) {
    const index next_m = ceil_div(m, chunk);
    A* next = next_m == 1 ? result : cur + m;
    for_each_index(exec, next_m, chunk_sum_fn<A, load_fn<A>>{next, load_fn<A>{cur}, m, chunk});
    cur = next;
    m = next_m;
  }
}

// partial[b*cols + c] = sum over the rows of block b of term(n, c), in row order.
template <class A, class Term>
struct column_partial_fn {
  A* partial;
  Term term;
  index N, cols, rows;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const index b = i / cols, c = i % cols;
    const index end = (b + 1) * rows < N ? (b + 1) * rows : N;
    A s = 0;
    for (index n = b * rows; n < end; ++n) s += term(n, c);
    partial[i] = s;
  }
};

// out[c] += sum over blocks b, in order, of partial[b*cols + c].
template <class A>
struct column_finish_fn {
  A* out;
  const A* partial;
  index blocks, cols;
  JUICE_HOST_DEVICE void operator()(index c) const {
    A s = 0;
    for (index b = 0; b < blocks; ++b) s += partial[b * cols + c];
    out[c] += s;
  }
};

// Elements of scratch column_sum(N, cols) needs.
[[nodiscard]] constexpr index column_scratch_size(index N, index cols, index rows = column_block_rows) {
  return ceil_div(N, rows) * cols;
}

// out[c] += sum_{n<N} term(n, c) for c < cols; scratch holds column_scratch_size(N, cols, rows).
template <class Exec, class A, class Term>
void column_sum(Exec&& exec, A* out, A* scratch, Term term, index N, index cols, index rows = column_block_rows) {
  if (N <= 0 || cols <= 0) return;
  const index blocks = ceil_div(N, rows);
  for_each_index(exec, blocks * cols, column_partial_fn<A, Term>{scratch, term, N, cols, rows});
  for_each_index(exec, cols, column_finish_fn<A>{out, scratch, blocks, cols});
}

}  // namespace juice::device_kernels
