// juice/backends/cuda/attention.cuh
//
// Causal self-attention as device functors, with the contract of juice::cpu's attention
// (juice/backends/cpu/attention.hpp), grouped-query (Ainslie et al., "GQA", 2023): NH query heads of
// hs = C/NH channels share NKV key/value heads (NH a multiple of NKV), Ckv = NKV*hs, W = C + 2 Ckv;
// qkv(B,T,W) packs q (C), k (Ckv), v (Ckv); query head h uses channels [h*hs, (h+1)*hs) of q and
// key/value head h / (NH/NKV) of k and v; scale 1/sqrt(hs). NKV = NH is GPT-2's multi-head attention
// (W = 3C), the overloads without NKV, and runs the same functors with the same arithmetic. One
// call of a functor handles one query row r = (b*NH + h)*T + t, the layout of lse(B,NH,T), or for
// dk and dv one key row (b*NKV + g)*T + t2:
//   attention_forward(out(B,T,C), lse(B,NH,T), qkv): a first pass over keys 0..t keeps the running
//       maximum and sum (online softmax, two scalars), giving lse; a second pass writes
//       out = sum_t2 exp(s - lse) v straight into the row's output slice, so no per-thread scratch
//       and no T x T tensor exist
//   attention_backward(dqkv(B,T,W), dout(B,T,C), out, lse, qkv): D = rowsum(dout*out) per row
//       (a scratch (B,NH,T) buffer), then dq one query row per call (over keys <= t) and dk, dv one
//       key/value row per call (over the group's query heads in order, each over queries >= t2),
//       recomputing p = exp(s - lse): every output slice has one owner, so there are no atomics and
//       the result is deterministic
//   attention_cached(out(B,Tn,C), qkv(B,Tn,W), kcache(B,Tmax,Ckv), vcache, pos0(B)): the new k, v
//       rows are copied into the caches first (one (b, t) row per call), then every new query row
//       attends to cache positions 0..pos0[b]+t like the forward pass
// This is the simple, portable path (one thread per row, O(T hs) work each); a tiled shared-memory
// kernel can sit beside it later and be tested against it.
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

namespace detail {

template <class T>
JUICE_HOST_DEVICE T dot_n(const T* a, const T* b, index n) {
  T s = 0;
  for (index i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// The scale 1/sqrt(hs) computed as the CPU backend does (in double, then rounded to T).
template <class T>
JUICE_HOST_DEVICE T attention_scale(index hs) {
  return static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
}

}  // namespace detail

// Row r = (b*NH + h)*T + t of the forward pass. Keys and values of key/value head h / group are
// read at kbase/vbase + b*kbatch + position*kstride: inside qkv for training (k and v at offsets C
// and C + Ckv, stride W), in the caches for decoding (stride Ckv). The query's own position, the
// last key it sees, is t for training (pos0 null) and pos0[b] + t for decoding.
template <class T>
struct attention_row_fn {
  T* out;           // (B,T,C)
  T* lse;           // (B,NH,T) or null (decoding keeps no statistics)
  const T* qkv;     // (B,T,W)
  const T* kbase;   // k of position 0, batch row 0
  const T* vbase;   // v of position 0, batch row 0
  index kbatch;     // elements between batch rows of kbase/vbase
  index kstride;    // elements between positions of kbase/vbase
  const int* pos0;  // (B) first position of each batch row, or null (0)
  index Tn, C, NH;
  index W, group;  // qkv's row length C + 2 Ckv; query heads per key/value head, NH/NKV
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index t = r % Tn, bh = r / Tn, h = bh % NH, b = bh / NH, hs = C / NH;
    const index last = (pos0 ? static_cast<index>(pos0[b]) : 0) + t;
    const T scale = detail::attention_scale<T>(hs);
    const T* q = qkv + (b * Tn + t) * W + h * hs;
    const T* K = kbase + b * kbatch + (h / group) * hs;
    const T* Vv = vbase + b * kbatch + (h / group) * hs;
    // Pass 1: the running maximum m and sum l of exp(s - m); key 0 always exists, so m starts finite.
    T m = scale * detail::dot_n(q, K, hs), l = 1;
    for (index t2 = 1; t2 <= last; ++t2) {
      const T s = scale * detail::dot_n(q, K + t2 * kstride, hs);
      if (s > m) {
        l = l * std::exp(m - s) + 1;
        m = s;
      } else {
        l += std::exp(s - m);
      }
    }
    const T L = m + std::log(l);
    // Pass 2: the normalised probabilities times v, accumulated in the output row itself.
    T* o = out + (b * Tn + t) * C + h * hs;
    for (index i = 0; i < hs; ++i) o[i] = 0;
    for (index t2 = 0; t2 <= last; ++t2) {
      const T p = std::exp(scale * detail::dot_n(q, K + t2 * kstride, hs) - L);
      const T* v = Vv + t2 * kstride;
      for (index i = 0; i < hs; ++i) o[i] += p * v[i];
    }
    if (lse) lse[r] = L;
  }
};

// D[r] = dout_t . out_t over the head's channels, r = (b*NH + h)*T + t.
template <class T>
struct attention_rowdot_fn {
  T* D;
  const T* dout;
  const T* out;
  index Tn, C, NH;
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index t = r % Tn, bh = r / Tn, h = bh % NH, b = bh / NH, hs = C / NH;
    const index o = (b * Tn + t) * C + h * hs;
    D[r] = detail::dot_n(dout + o, out + o, hs);
  }
};

// dq_t = scale sum_{t2<=t} p(t,t2) (dout_t . v_t2 - D_t) k_t2, one query row per call, overwritten.
template <class T>
struct attention_dq_fn {
  T* dqkv;
  const T* dout;
  const T* lse;
  const T* D;
  const T* qkv;
  index Tn, C, NH, NKV;
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index t = r % Tn, bh = r / Tn, h = bh % NH, b = bh / NH, hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv;
    const T scale = detail::attention_scale<T>(hs);
    const T* q = qkv + (b * Tn + t) * W + h * hs;
    const T* kbase = qkv + b * Tn * W + C + (h / (NH / NKV)) * hs;
    const T* dO = dout + (b * Tn + t) * C + h * hs;
    T* dq = dqkv + (b * Tn + t) * W + h * hs;
    for (index i = 0; i < hs; ++i) dq[i] = 0;
    for (index t2 = 0; t2 <= t; ++t2) {
      const T* k = kbase + t2 * W;
      const T p = std::exp(scale * detail::dot_n(q, k, hs) - lse[r]);
      const T ds = scale * p * (detail::dot_n(dO, k + Ckv, hs) - D[r]);
      for (index i = 0; i < hs; ++i) dq[i] += ds * k[i];
    }
  }
};

// dk_t2 = scale sum_h sum_{t>=t2} p(t,t2) (dout_t . v_t2 - D_t) q_t and dv_t2 = sum_h sum_{t>=t2}
// p(t,t2) dout_t over the query heads h of key/value head g, one key row per call (r = (b*NKV + g)*T
// + t2), both overwritten.
template <class T>
struct attention_dkv_fn {
  T* dqkv;
  const T* dout;
  const T* lse;
  const T* D;
  const T* qkv;
  index Tn, C, NH, NKV;
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index t2 = r % Tn, bg = r / Tn, g = bg % NKV, b = bg / NKV, hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv;
    const index group = NH / NKV;
    const T scale = detail::attention_scale<T>(hs);
    const T* k = qkv + (b * Tn + t2) * W + C + g * hs;
    const T* v = k + Ckv;
    T* dk = dqkv + (b * Tn + t2) * W + C + g * hs;
    T* dv = dk + Ckv;
    for (index i = 0; i < hs; ++i) dk[i] = dv[i] = 0;
    for (index h = g * group; h < (g + 1) * group; ++h) {
      const index bh = b * NH + h;
      for (index t = t2; t < Tn; ++t) {
        const T* q = qkv + (b * Tn + t) * W + h * hs;
        const T* dO = dout + (b * Tn + t) * C + h * hs;
        const index rq = bh * Tn + t;
        const T p = std::exp(scale * detail::dot_n(q, k, hs) - lse[rq]);
        const T ds = scale * p * (detail::dot_n(dO, v, hs) - D[rq]);
        for (index i = 0; i < hs; ++i) {
          dk[i] += ds * q[i];
          dv[i] += p * dO[i];
        }
      }
    }
  }
};

// Copies the k and v (Ckv channels each) of new row (b, t) to cache position pos0[b] + t.
template <class T>
struct kv_cache_write_fn {
  T* kcache;
  T* vcache;
  const T* qkv;
  const int* pos0;
  index Tn, Tmax, C, Ckv;
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index t = r % Tn, b = r / Tn;
    const T* src = qkv + r * (C + 2 * Ckv);
    const index dst = (b * Tmax + pos0[b] + t) * Ckv;
    for (index c = 0; c < Ckv; ++c) {
      kcache[dst + c] = src[C + c];
      vcache[dst + c] = src[C + Ckv + c];
    }
  }
};

template <class Exec, class T>
void attention_forward(Exec&& exec, T* out, T* lse, const T* qkv, index B, index Tn, index C, index NH, index NKV) {
  const index Ckv = NKV * (C / NH), W = C + 2 * Ckv;
  for_each_index(exec, B * NH * Tn,
                 attention_row_fn<T>{out, lse, qkv, qkv + C, qkv + C + Ckv, Tn * W, W, nullptr, Tn, C, NH, W, NH / NKV});
}

template <class Exec, class T>
void attention_forward(Exec&& exec, T* out, T* lse, const T* qkv, index B, index Tn, index C, index NH) {
  attention_forward(exec, out, lse, qkv, B, Tn, C, NH, NH);
}

// D is scratch of B*NH*Tn elements.
template <class Exec, class T>
void attention_backward(Exec&& exec, T* dqkv, T* D, const T* dout, const T* out, const T* lse, const T* qkv, index B,
                        index Tn, index C, index NH, index NKV) {
  const index rows = B * NH * Tn;
  for_each_index(exec, rows, attention_rowdot_fn<T>{D, dout, out, Tn, C, NH});
  for_each_index(exec, rows, attention_dq_fn<T>{dqkv, dout, lse, D, qkv, Tn, C, NH, NKV});
  for_each_index(exec, B * NKV * Tn, attention_dkv_fn<T>{dqkv, dout, lse, D, qkv, Tn, C, NH, NKV});
}

template <class Exec, class T>
void attention_backward(Exec&& exec, T* dqkv, T* D, const T* dout, const T* out, const T* lse, const T* qkv, index B,
                        index Tn, index C, index NH) {
  attention_backward(exec, dqkv, D, dout, out, lse, qkv, B, Tn, C, NH, NH);
}

template <class Exec, class T>
void attention_cached(Exec&& exec, T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, index B, index Tn,
                      index Tmax, index C, index NH, index NKV) {
  const index Ckv = NKV * (C / NH), W = C + 2 * Ckv;
  for_each_index(exec, B * Tn, kv_cache_write_fn<T>{kcache, vcache, qkv, pos0, Tn, Tmax, C, Ckv});
  for_each_index(exec, B * NH * Tn,
                 attention_row_fn<T>{out, static_cast<T*>(nullptr), qkv, kcache, vcache, Tmax * Ckv, Ckv, pos0, Tn, C,
                                     NH, W, NH / NKV});
}

template <class Exec, class T>
void attention_cached(Exec&& exec, T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, index B, index Tn,
                      index Tmax, index C, index NH) {
  attention_cached(exec, out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH, NH);
}

}  // namespace juice::device_kernels
