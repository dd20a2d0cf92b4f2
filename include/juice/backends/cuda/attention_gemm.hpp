// juice/backends/cuda/attention_gemm.hpp
//
// Causal attention's training passes decomposed into strided-batched GEMMs and portable row
// functors (attention_impl::gemm): the fast path beside the row functors of attention.cuh, which
// stay the reference and which it is tested against. Same contract and layouts (qkv(B,T,W) packs q
// (C), k (Ckv), v (Ckv), W = C + 2 Ckv; query head h reads key/value head h / (NH/NKV); lse(B,NH,T)):
//   forward, for each block of (b, h) pairs:   S = scale Q K^T                  (GEMM, T x T per pair)
//                                              P = causal softmax(S) in place, lse per row (functor)
//                                              out = P V                        (GEMM)
//   backward, block by block, recomputing P:   D = rowsum(dO * O) per row       (attention.cuh's functor)
//                                              P from S = scale Q K^T and lse   (GEMM, functor)
//                                              dP = dO V^T                      (GEMM)
//                                              dS = P (dP - D)                  (functor, in place)
//                                              dQ = scale dS K                  (GEMM, overwritten)
//                                              dK = scale dS^T Q, dV = P^T dO   (GEMMs)
// Only the per-row lse crosses from the forward to the backward pass (the CPU's contract); the
// T x T scores live in scratch for one block at a time. Probabilities of masked keys (t2 > t) are
// written as exact zeros, so the full T x T products need no mask of their own.
// Q, K, V, dO, out and dqkv are read and written in place inside their packed tensors through
// leading dimensions (row stride W for qkv and dqkv, C for out and dout): nothing is gathered.
// Blocks: a block is one batch row b, one position j inside the query-head group, and `pairs`
// consecutive key/value heads g (query heads h = g group + j), so that every operand of a batch
// entry sits at a constant stride from the previous one (Q: group hs, K and V: hs, scores: T^2).
// dK and dV of key/value head g sum over its query heads j = 0, 1, ..., group - 1 in that order:
// the GEMM of j = 0 overwrites them (beta 0) and each later j adds to them (beta 1), one GEMM after
// the other, so the sum is deterministic and no two batch entries write the same memory (no
// atomics). Scratch: one T x T buffer (forward) or two (backward) of `pairs` matrices each, with
// pairs = attention_gemm_pairs(NKV, T, sizeof(T), bound): at most `bound` bytes for both buffers,
// and at least one pair however large T is.
//
// The GEMM is the backend's, passed as a callable with row-major BLAS semantics (the contract of
// juice::cpu_kernels::gemm_strided_batched, juice/backends/cpu/gemm.hpp):
//   gemm(trans_a, trans_b, M, N, K, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c,
//        batch): C_i(M,N) = alpha op(A_i) op(B_i) + beta C_i, A_i = a + i stride_a (M,K), or (K,M)
//        stored when trans_a, B_i (K,N) or (N,K) stored when trans_b, all row-major with leading
//        dimensions lda, ldb, ldc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "juice/backends/cuda/attention.cuh"
#include "juice/backends/cuda/launch.hpp"

namespace juice::device_kernels {

// (b, h) pairs per block so that the backward pass's two buffers of pairs x T x T elements of
// `element_bytes` fit in `scratch_bytes`; at least 1, at most NKV (a block never spans batch rows).
inline index attention_gemm_pairs(index NKV, index Tn, std::size_t element_bytes, std::size_t scratch_bytes) {
  if (NKV <= 0 || Tn <= 0) return 1;
  const double per_pair = 2.0 * static_cast<double>(Tn) * static_cast<double>(Tn) * static_cast<double>(element_bytes);
  const double fit = std::floor(static_cast<double>(scratch_bytes) / per_pair);
  return std::clamp<index>(fit >= static_cast<double>(NKV) ? NKV : static_cast<index>(fit), 1, NKV);
}

// Row r = p T + t of a block's scores S(pairs,T,T) (scale q.k already applied): the causal softmax
// over keys 0..t written in place (exact zeros for t2 > t), and lse of pair p, query t at
// lse[p lse_stride + t]. Two passes (maximum, then the sum of exp(s - max)).
template <class T>
struct causal_softmax_fn {
  T* S;
  T* lse;
  index Tn, lse_stride;
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index p = r / Tn, t = r % Tn;
    T* s = S + r * Tn;
    T m = s[0];
    for (index t2 = 1; t2 <= t; ++t2) m = s[t2] > m ? s[t2] : m;
    T l = 0;
    for (index t2 = 0; t2 <= t; ++t2) l += std::exp(s[t2] - m);
    const T L = m + std::log(l);
    for (index t2 = 0; t2 <= t; ++t2) s[t2] = std::exp(s[t2] - L);
    for (index t2 = t + 1; t2 < Tn; ++t2) s[t2] = 0;
    lse[p * lse_stride + t] = L;
  }
};

// The backward pass's recomputation: P = exp(S - lse) over keys 0..t, zeros after, in place.
template <class T>
struct causal_probs_fn {
  T* S;
  const T* lse;
  index Tn, lse_stride;
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index p = r / Tn, t = r % Tn;
    T* s = S + r * Tn;
    const T L = lse[p * lse_stride + t];
    for (index t2 = 0; t2 <= t; ++t2) s[t2] = std::exp(s[t2] - L);
    for (index t2 = t + 1; t2 < Tn; ++t2) s[t2] = 0;
  }
};

// dS = P (dP - D) in place of dP, D of pair p, query t at D[p d_stride + t]; zeros for t2 > t.
template <class T>
struct softmax_grad_fn {
  T* dP;
  const T* P;
  const T* D;
  index Tn, d_stride;
  JUICE_HOST_DEVICE void operator()(index r) const {
    const index p = r / Tn, t = r % Tn;
    T* ds = dP + r * Tn;
    const T* pr = P + r * Tn;
    const T d = D[p * d_stride + t];
    for (index t2 = 0; t2 <= t; ++t2) ds[t2] = pr[t2] * (ds[t2] - d);
    for (index t2 = t + 1; t2 < Tn; ++t2) ds[t2] = 0;
  }
};

// out(B,T,C) and lse(B,NH,T), overwritten; S holds pairs T^2 elements.
template <class Exec, class Gemm, class T>
void attention_gemm_forward(Exec&& exec, Gemm&& gemm, T* out, T* lse, const T* qkv, index B, index Tn, index C,
                            index NH, index NKV, T* S, index pairs) {
  const index hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv, group = NH / NKV, TT = Tn * Tn;
  const T scale = detail::attention_scale<T>(hs), one = 1, zero = 0;
  for (index b = 0; b < B; ++b)
    for (index g0 = 0; g0 < NKV; g0 += pairs) {
      const index n = std::min(pairs, NKV - g0);
      const T* k = qkv + b * Tn * W + C + g0 * hs;
      const T* v = k + Ckv;
      for (index j = 0; j < group; ++j) {
        const index h0 = g0 * group + j;
        const T* q = qkv + b * Tn * W + h0 * hs;
        gemm(false, true, Tn, Tn, hs, scale, q, W, group * hs, k, W, hs, zero, S, Tn, TT, n);
        for_each_index(exec, n * Tn, causal_softmax_fn<T>{S, lse + (b * NH + h0) * Tn, Tn, group * Tn});
        gemm(false, false, Tn, hs, Tn, one, S, Tn, TT, v, W, hs, zero, out + b * Tn * C + h0 * hs, C, group * hs, n);
      }
    }
}

// dqkv(B,T,W) overwritten; D holds B NH T elements, P and dP pairs T^2 each.
template <class Exec, class Gemm, class T>
void attention_gemm_backward(Exec&& exec, Gemm&& gemm, T* dqkv, T* D, const T* dout, const T* out, const T* lse,
                             const T* qkv, index B, index Tn, index C, index NH, index NKV, T* P, T* dP, index pairs) {
  const index hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv, group = NH / NKV, TT = Tn * Tn;
  const T scale = detail::attention_scale<T>(hs), one = 1, zero = 0;
  for_each_index(exec, B * NH * Tn, attention_rowdot_fn<T>{D, dout, out, Tn, C, NH});
  for (index b = 0; b < B; ++b)
    for (index g0 = 0; g0 < NKV; g0 += pairs) {
      const index n = std::min(pairs, NKV - g0);
      const T* k = qkv + b * Tn * W + C + g0 * hs;
      const T* v = k + Ckv;
      T* dk = dqkv + b * Tn * W + C + g0 * hs;
      T* dv = dk + Ckv;
      for (index j = 0; j < group; ++j) {
        const index h0 = g0 * group + j, row0 = (b * NH + h0) * Tn;
        const T* q = qkv + b * Tn * W + h0 * hs;
        const T* dO = dout + b * Tn * C + h0 * hs;
        const T beta = j == 0 ? zero : one;  // the first query head of the group overwrites
        gemm(false, true, Tn, Tn, hs, scale, q, W, group * hs, k, W, hs, zero, P, Tn, TT, n);
        for_each_index(exec, n * Tn, causal_probs_fn<T>{P, lse + row0, Tn, group * Tn});
        gemm(false, true, Tn, Tn, hs, one, dO, C, group * hs, v, W, hs, zero, dP, Tn, TT, n);
        for_each_index(exec, n * Tn, softmax_grad_fn<T>{dP, P, D + row0, Tn, group * Tn});
        gemm(false, false, Tn, hs, Tn, scale, dP, Tn, TT, k, W, hs, zero, dqkv + b * Tn * W + h0 * hs, W, group * hs, n);
        gemm(true, false, Tn, hs, Tn, scale, dP, Tn, TT, q, W, group * hs, beta, dk, W, hs, n);
        gemm(true, false, Tn, hs, Tn, one, P, Tn, TT, dO, C, group * hs, beta, dv, W, hs, n);
      }
    }
}

}  // namespace juice::device_kernels
