// juice/backends/cuda/sampling.cuh
//
// juice's sampling protocol (juice/core/sampling.hpp) on the device, one row of logits(R,V) per
// call, with the row's uniform u[r] drawn on the host. The weights are formed and summed in double
// in the same order as the host reference, so the same logits and uniforms give the same tokens
// (bit for bit on the OpenMP system; on a GPU only a last-ulp difference of exp can move a token
// that sits exactly on a boundary of the inverse CDF).
//   No limit: tokens in id order, no sort. Greedy (temperature 0): the first maximal logit.
//   With top_k or top_p (sample_rows_selected): each row selects its m most likely tokens without
//   sorting the row: a radix select on the logits' bits (one pass over the row per byte, a 256-bin
//   histogram of the candidates that match the bytes chosen so far) finds the m-th largest logit,
//   one pass in id order gathers the tokens above it and the lowest ids among its ties, and a
//   heapsort orders just those m by descending logit, ties by the lower id: the kept tokens in the
//   protocol's order, in the row's slice of a persistent (R, cap) scratch. top_k: m = k, and every
//   sum is the host's, in the host's order. top_p: m starts at 64 and doubles (up to V, or k) until
//   the prefix reaches top_p of the total mass; without top_k that total is summed over the row in
//   id order rather than in logit order, so it can differ from the host's in the last bit, which
//   moves a token only if top_p times the total falls within that bit of a prefix sum.
//   No Thrust sort and no allocation: juice::cpu's sampler is the reference the tests hold it to.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "juice/backends/cuda/launch.hpp"
#include "juice/core/sampling.hpp"

namespace juice::device_kernels {

// One row without a limit (sampling_needs_order false): greedy, or the inverse CDF over every
// token in id order.
template <class T>
struct sample_row_fn {
  int* out;
  const T* logits;
  const double* u;
  index V;
  double temperature;

  JUICE_HOST_DEVICE void operator()(index r) const {
    const T* row = logits + r * V;
    index best = 0;
    for (index v = 1; v < V; ++v)
      if (row[v] > row[best]) best = v;
    if (temperature == 0 || V == 1) {
      out[r] = static_cast<int>(best);
      return;
    }
    const double top = static_cast<double>(row[best]);
    double total = 0;
    for (index v = 0; v < V; ++v) total += std::exp((static_cast<double>(row[v]) - top) / temperature);
    const double target = u[r] * total;
    double acc = 0;
    for (index v = 0; v < V; ++v) {
      acc += std::exp((static_cast<double>(row[v]) - top) / temperature);
      if (target < acc) {
        out[r] = static_cast<int>(v);
        return;
      }
    }
    out[r] = static_cast<int>(V - 1);
  }
};

namespace detail {

// The logit's bits as an unsigned integer whose order is the logit's (for finite logits; -0 as +0,
// since the protocol compares values).
JUICE_HOST_DEVICE inline std::uint32_t ordered_bits(float x) {
  if (x == 0.0f) x = 0.0f;
#if defined(__CUDA_ARCH__)
  const std::uint32_t u = __float_as_uint(x);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
#endif
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
JUICE_HOST_DEVICE inline std::uint64_t ordered_bits(double x) {
  if (x == 0.0) x = 0.0;
#if defined(__CUDA_ARCH__)
  const auto u = static_cast<std::uint64_t>(__double_as_longlong(x));
#else
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
#endif
  return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

// Whether token a comes before token b in the protocol's order: higher logit, then lower id.
template <class T>
JUICE_HOST_DEVICE bool before(const T* row, int a, int b) {
  return row[a] > row[b] || (row[a] == row[b] && a < b);
}

// Restores the heap below position i of sel[0, n) (the root the last in the protocol's order).
template <class T>
JUICE_HOST_DEVICE void sift_down(const T* row, int* sel, index i, index n) {
  for (;;) {
    const index l = 2 * i + 1, r = l + 1;
    index last = i;
    if (l < n && before(row, sel[last], sel[l])) last = l;
    if (r < n && before(row, sel[last], sel[r])) last = r;
    if (last == i) return;
    const int t = sel[i];
    sel[i] = sel[last];
    sel[last] = t;
    i = last;
  }
}

// sel[0, m) := the m tokens of row (V logits) that come first in the protocol's order, in that
// order (1 <= m <= V): radix select of the m-th largest logit, a gather in id order, a heapsort.
template <class T>
JUICE_HOST_DEVICE void select_first_tokens(const T* row, index V, index m, int* sel) {
  using bits_t = decltype(ordered_bits(T{}));
  constexpr int bytes = sizeof(bits_t);
  bits_t prefix = 0, mask = 0;
  index need = m;  // among the candidates that match prefix under mask, how many are still wanted
  for (int byte = bytes - 1; byte >= 0; --byte) {
    const int shift = 8 * byte;
    index hist[256];
    for (int d = 0; d < 256; ++d) hist[d] = 0;
    for (index v = 0; v < V; ++v) {
      const bits_t b = ordered_bits(row[v]);
      if ((b & mask) == prefix) ++hist[(b >> shift) & 0xff];
    }
    int d = 255;
    while (hist[d] < need) need -= hist[d--];
    prefix |= static_cast<bits_t>(d) << shift;
    mask |= static_cast<bits_t>(0xff) << shift;
  }
  // prefix is the m-th largest logit's bits; `need` of its ties (the lowest ids) are kept.
  index n = 0;
  for (index v = 0; v < V; ++v) {
    const bits_t b = ordered_bits(row[v]);
    if (b > prefix || (b == prefix && need-- > 0)) sel[n++] = static_cast<int>(v);
  }
  for (index i = m / 2; i-- > 0;) sift_down(row, sel, i, m);
  for (index end = m - 1; end > 0; --end) {
    const int t = sel[0];
    sel[0] = sel[end];
    sel[end] = t;
    sift_down(row, sel, 0, end);
  }
}

}  // namespace detail

// One row of the limited protocol (top_k < V or top_p < 1, temperature > 0) through the row's
// selection in sel(R, cap), cap >= keep; no sort of the row.
template <class T>
struct sample_row_select_fn {
  int* out;
  int* sel;
  const T* logits;
  const double* u;
  index V, keep, cap;
  double temperature, top_p;

  JUICE_HOST_DEVICE double weight(const T* row, int tok, double top) const {
    return std::exp((static_cast<double>(row[tok]) - top) / temperature);
  }
  JUICE_HOST_DEVICE void operator()(index r) const {
    const T* row = logits + r * V;
    int* s = sel + r * cap;
    index best = 0;
    for (index v = 1; v < V; ++v)
      if (row[v] > row[best]) best = v;
    const double top = static_cast<double>(row[best]);
    index m = keep;
    double total = 0;
    if (top_p < 1 && keep == V) {  // no top_k: the whole row's mass, in id order
      for (index v = 0; v < V; ++v) total += weight(row, static_cast<int>(v), top);
      m = 64 < V ? 64 : V;
    }
    index n = keep;
    for (;;) {
      detail::select_first_tokens(row, V, m, s);
      if (m == keep && keep < V) {  // top_k: the host's total, over the kept tokens in order
        total = 0;
        for (index i = 0; i < keep; ++i) total += weight(row, s[i], top);
      }
      if (!(top_p < 1)) break;
      double acc = 0;  // the smallest prefix whose mass reaches top_p; its sum is the new total
      n = 0;
      while (n < m) {
        acc += weight(row, s[n], top);
        ++n;
        if (acc >= top_p * total) break;
      }
      if (acc >= top_p * total || m == keep) {
        total = acc;
        break;
      }
      m = 2 * m < keep ? 2 * m : keep;
    }
    if (n == 1) {
      out[r] = s[0];
      return;
    }
    const double target = u[r] * total;
    double acc = 0;
    for (index i = 0; i < n; ++i) {
      acc += weight(row, s[i], top);
      if (target < acc) {
        out[r] = s[i];
        return;
      }
    }
    out[r] = s[n - 1];
  }
};

// Whether the options need the kept tokens sorted by logit (top_k < V or top_p < 1, not greedy).
inline bool sampling_needs_order(const sampling_options& o, index V) {
  return o.temperature != 0 && ((o.top_k > 0 && static_cast<index>(o.top_k) < V) || o.top_p < 1);
}

// The per-row capacity of sample_rows_selected's scratch: top_k's k, or the whole row for top_p.
inline index sampling_selection_capacity(const sampling_options& o, index V) {
  return (o.top_k > 0 && static_cast<index>(o.top_k) < V) ? static_cast<index>(o.top_k) : V;
}

// out(R) = the protocol's token for each row when sampling_needs_order(o, V), through per-row
// selection; sel is scratch of R * sampling_selection_capacity(o, V) ints. The options are
// validated by the caller.
template <class Exec, class T>
void sample_rows_selected(Exec&& exec,
                          int* out,  // NOLINT(readability-non-const-parameter): written by the functor
                          int* sel,  // NOLINT(readability-non-const-parameter): the functor's per-row selection
                          const T* logits, const double* u, index R, index V, const sampling_options& o) {
  const index keep = sampling_selection_capacity(o, V);
  for_each_index(exec, R, sample_row_select_fn<T>{out, sel, logits, u, V, keep, keep, o.temperature, o.top_p});
}

// out(R) = the protocol's token for each row when not sampling_needs_order(o, V). The options are
// validated by the caller.
template <class Exec, class T>
void sample_rows(Exec&& exec, int* out,  // NOLINT(readability-non-const-parameter): written by the functor
                 const T* logits, const double* u, index R, index V, const sampling_options& o) {
  for_each_index(exec, R, sample_row_fn<T>{out, logits, u, V, o.temperature});
}

}  // namespace juice::device_kernels
