// juice/backends/cuda/sampling.cuh
//
// juice's sampling protocol (juice/core/sampling.hpp) on the device, one row of logits(R,V) per
// call, with the row's uniform u[r] drawn on the host. The weights are formed and summed in double
// in the same order as the host reference, so the same logits and uniforms give the same tokens
// (bit for bit on the OpenMP system; on a GPU only a last-ulp difference of exp can move a token
// that sits exactly on a boundary of the inverse CDF).
//   No limit: tokens in id order, no sort. With top_k or top_p the kept tokens are the first ones of
//   `order`, each row's ids sorted by descending logit with ties by the lower id, which
//   sort_rows_by_logit produces with one Thrust sort over all rows (key: row, then logit, then id).
//   Greedy (temperature 0): the first maximal logit.
#pragma once

#include <cmath>

#include <thrust/sort.h>

#include "juice/backends/cuda/launch.hpp"
#include "juice/core/sampling.hpp"

namespace juice::device_kernels {

// order[i] = i: global positions r*V + v, sorted below.
struct iota_fn {
  int* order;
  JUICE_HOST_DEVICE void operator()(index i) const { order[i] = static_cast<int>(i); }
};

// Strict order on global positions: by row, then descending logit, then ascending id.
template <class T>
struct row_logit_order {
  const T* logits;
  index V;
  JUICE_HOST_DEVICE bool operator()(int a, int b) const {
    const index ra = a / V, rb = b / V;
    if (ra != rb) return ra < rb;
    const T la = logits[a], lb = logits[b];
    return la > lb || (la == lb && a < b);
  }
};

template <class T>
struct sample_row_fn {
  int* out;
  const T* logits;
  const double* u;
  const int* order;  // null: id order (no limit)
  index V, keep;
  double temperature, top_p;

  JUICE_HOST_DEVICE int token(index r, index i) const {
    return order ? static_cast<int>(order[r * V + i] - r * V) : static_cast<int>(i);
  }
  JUICE_HOST_DEVICE double weight(const T* row, int tok, double top) const {
    return std::exp((static_cast<double>(row[tok]) - top) / temperature);
  }
  JUICE_HOST_DEVICE void operator()(index r) const {
    const T* row = logits + r * V;
    index best = 0;
    for (index v = 1; v < V; ++v)
      if (row[v] > row[best]) best = v;
    if (temperature == 0) {
      out[r] = static_cast<int>(best);
      return;
    }
    const double top = static_cast<double>(row[best]);
    double total = 0;
    for (index i = 0; i < keep; ++i) total += weight(row, token(r, i), top);
    index n = keep;
    if (top_p < 1) {  // the smallest prefix whose mass reaches top_p; its sum is the new total
      double acc = 0;
      n = 0;
      while (n < keep) {
        acc += weight(row, token(r, n), top);
        ++n;
        if (acc >= top_p * total) break;
      }
      total = acc;
    }
    if (n == 1) {
      out[r] = token(r, 0);
      return;
    }
    const double target = u[r] * total;
    double acc = 0;
    for (index i = 0; i < n; ++i) {
      acc += weight(row, token(r, i), top);
      if (target < acc) {
        out[r] = token(r, i);
        return;
      }
    }
    out[r] = token(r, n - 1);
  }
};

// Whether the options need the kept tokens sorted by logit (top_k < V or top_p < 1, not greedy).
inline bool sampling_needs_order(const sampling_options& o, index V) {
  return o.temperature != 0 && ((o.top_k > 0 && static_cast<index>(o.top_k) < V) || o.top_p < 1);
}

// order(R*V) := each row's positions by descending logit, ties by the lower id.
template <class Exec, class T>
void sort_rows_by_logit(Exec&& exec, int* order, const T* logits, index R, index V) {
  for_each_index(exec, R * V, iota_fn{order});
  thrust::sort(exec, order, order + R * V, row_logit_order<T>{logits, V});
}

// out(R) = the protocol's token for each row; `order` from sort_rows_by_logit when
// sampling_needs_order(o, V), else null. The options are validated by the caller.
template <class Exec, class T>
void sample_rows(Exec&& exec, int* out,  // NOLINT(readability-non-const-parameter): written by the functor
                 const T* logits, const double* u, const int* order, index R, index V,
                 const sampling_options& o) {
  const index keep = (o.top_k > 0 && static_cast<index>(o.top_k) < V) ? static_cast<index>(o.top_k) : V;
  for_each_index(exec, R, sample_row_fn<T>{out, logits, u, order, V, keep, o.temperature, o.top_p});
}

}  // namespace juice::device_kernels
