// juice/backends/cpu/attention.hpp
//
// Causal multi-head self-attention on packed projections, with NKV key/value heads shared by the NH
// query heads (grouped-query attention, Ainslie et al., "GQA", 2023; NKV = NH is GPT-2's multi-head
// attention, the overloads without NKV). hs = C/NH, Ckv = NKV*hs, W = C + 2 Ckv: qkv(B,T,W) holds
// q (C), k (Ckv), v (Ckv) side by side (3C for GPT-2); query head h uses q channels
// [h*hs, (h+1)*hs) and key/value head h / (NH/NKV) of k and v; scale 1/sqrt(hs).
//   attention_forward:  out(B,T,C) and lse(B,NH,T) = log sum_{t2<=t} exp(scale q_t.k_t2), the
//                       per-row softmax statistic, both overwritten
//   attention_backward: dqkv(B,T,W) (overwritten) from dout(B,T,C), out, lse, qkv
//   attention_cached:   incremental inference with a KV cache kcache, vcache (B,Tmax,Ckv): the Tn
//                       new positions of row b are pos0[b] .. pos0[b]+Tn-1; their k, v are written
//                       to the cache and each attends to cache positions 0..its own. out(B,Tn,C).
// Training attention is tiled FlashAttention-2 style (Dao, "FlashAttention-2", 2023): square
// blocks of attention_block queries by attention_block keys, block products as single-threaded
// Eigen GEMMs on Eigen::Map views of the strided head slices, an online softmax in the forward pass,
// and in the backward pass the probabilities recomputed block by block from lse (with
// D_t = dout_t . out_t), so no T x T tensor is ever stored: the extra memory is O(B NH T) plus one
// set of block buffers per thread, allocated once per call outside the block loops. The forward
// pass runs (batch, head, query block) tasks longest first under a dynamic schedule, which balances
// the triangular work. The backward pass runs one (batch, key/value head) per task, its query heads in
// turn: dq accumulates over key blocks and dk, dv over query blocks and the group's query heads, so
// one owner per key/value head needs neither atomics nor partial buffers, and every task costs the
// same. The plain loops these replace are kept as the test oracle
// in attention_reference.hpp. Decoding (attention_cached) reads one query row at a time and stays
// plain loops: its cost per token is linear in the length.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "juice/backends/cpu/gemm.hpp"
#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

// Queries and keys per block of the tiled attention. 64 matches GPT-2's head size, so each block
// product is a square GEMM that fits in L1/L2 with its operands.
inline constexpr std::ptrdiff_t attention_block = 64;

namespace detail {

template <class T>
using strided_map = Eigen::Map<row_matrix<T>, 0, Eigen::OuterStride<>>;
template <class T>
using const_strided_map = Eigen::Map<const row_matrix<T>, 0, Eigen::OuterStride<>>;
template <class T>
using column = Eigen::Array<T, Eigen::Dynamic, 1>;

// Zeroes the strictly upper triangle of a diagonal block (keys after their query).
template <class M>
void zero_above_diagonal(M&& p) {
  for (Eigen::Index r = 0; r < p.rows(); ++r)
    for (Eigen::Index c = r + 1; c < p.cols(); ++c) p(r, c) = 0;
}

}  // namespace detail

template <class T>
void attention_forward(T* out, T* lse, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t Tn, std::ptrdiff_t C,
                       std::ptrdiff_t NH, std::ptrdiff_t NKV) {
  using cmap_s = detail::const_strided_map<T>;
  using map_s = detail::strided_map<T>;
  using stride = Eigen::OuterStride<>;
  const std::ptrdiff_t hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv, group = NH / NKV, Bq = attention_block;
  const std::ptrdiff_t nQ = (Tn + Bq - 1) / Bq, BH = B * NH, tasks = nQ * BH;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
  [[maybe_unused]] const int threads = B * NH * Tn * Tn * hs > parallel_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel num_threads(threads))
  {
    const serial_eigen serial;  // the block products stay on this thread, in a team of one too
    row_matrix<T> S(Bq, Bq), acc(Bq, hs);
    detail::column<T> m(Bq), l(Bq), mnew(Bq), corr(Bq);
    JUICE_OMP(omp for schedule(dynamic, 1))
    for (std::ptrdiff_t task = 0; task < tasks; ++task) {
      // Longest query blocks first: the dynamic schedule then evens out the causal triangle.
      const std::ptrdiff_t qb = nQ - 1 - task / BH, bh = task % BH, b = bh / NH, h = bh % NH;
      const std::ptrdiff_t i0 = qb * Bq, br = std::min(Bq, Tn - i0);
      const T* qbase = qkv + b * Tn * W + h * hs;
      const T* kbase = qkv + b * Tn * W + C + (h / group) * hs;
      cmap_s Q(qbase + i0 * W, br, hs, stride(W));
      auto a = acc.topRows(br);
      for (std::ptrdiff_t kb = 0; kb <= qb; ++kb) {
        const std::ptrdiff_t j0 = kb * Bq, bc = std::min(Bq, Tn - j0);
        cmap_s K(kbase + j0 * W, bc, hs, stride(W)), Vb(kbase + Ckv + j0 * W, bc, hs, stride(W));
        auto s = S.topLeftCorner(br, bc);
        s.noalias() = (scale * Q) * K.transpose();
        if (kb == qb)
          for (std::ptrdiff_t r = 0; r < br; ++r)
            for (std::ptrdiff_t c = r + 1; c < bc; ++c) s(r, c) = -std::numeric_limits<T>::infinity();
        // Every row of block 0 holds key 0, so the running maximum is finite from the start.
        if (kb == 0) {
          m.head(br) = s.rowwise().maxCoeff().array();
        } else {
          mnew.head(br) = m.head(br).max(s.rowwise().maxCoeff().array());
          corr.head(br) = (m.head(br) - mnew.head(br)).exp();
          m.head(br) = mnew.head(br);
        }
        s.array().colwise() -= m.head(br);
        s.array() = s.array().exp();
        if (kb == qb) detail::zero_above_diagonal(s);
        if (kb == 0) {
          l.head(br) = s.rowwise().sum().array();
          a.noalias() = s * Vb;
        } else {
          l.head(br) = l.head(br) * corr.head(br) + s.rowwise().sum().array();
          a = corr.head(br).matrix().asDiagonal() * a;
          a.noalias() += s * Vb;
        }
      }
      map_s(out + (b * Tn + i0) * C + h * hs, br, hs, stride(C)) = l.head(br).inverse().matrix().asDiagonal() * a;
      Eigen::Map<detail::column<T>>(lse + bh * Tn + i0, br) = m.head(br) + l.head(br).log();
    }
  }
}

template <class T>
void attention_forward(T* out, T* lse, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t Tn, std::ptrdiff_t C,
                       std::ptrdiff_t NH) {
  attention_forward(out, lse, qkv, B, Tn, C, NH, NH);
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, std::ptrdiff_t B,
                        std::ptrdiff_t Tn, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV) {
  using cmap_s = detail::const_strided_map<T>;
  using map_s = detail::strided_map<T>;
  using stride = Eigen::OuterStride<>;
  const std::ptrdiff_t hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv, group = NH / NKV, Bq = attention_block;
  const std::ptrdiff_t nQ = (Tn + Bq - 1) / Bq, BG = B * NKV;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
  [[maybe_unused]] const int threads = B * NH * Tn * Tn * hs > parallel_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel num_threads(threads))
  {
    const serial_eigen serial;
    row_matrix<T> P(Bq, Bq), dP(Bq, Bq);
    detail::column<T> D(Tn);
    JUICE_OMP(omp for schedule(dynamic, 1))
    for (std::ptrdiff_t bg = 0; bg < BG; ++bg) {
      const std::ptrdiff_t b = bg / NKV, g = bg % NKV;
      const T* kbase = qkv + b * Tn * W + C + g * hs;
      T* dkbase = dqkv + b * Tn * W + C + g * hs;
      map_s(dkbase, Tn, hs, stride(W)).setZero();
      map_s(dkbase + Ckv, Tn, hs, stride(W)).setZero();
      for (std::ptrdiff_t h = g * group; h < (g + 1) * group; ++h) {
        const std::ptrdiff_t bh = b * NH + h;
        const T* qbase = qkv + b * Tn * W + h * hs;
        T* dqbase = dqkv + b * Tn * W + h * hs;
        cmap_s dO(dout + b * Tn * C + h * hs, Tn, hs, stride(C)), O(out + b * Tn * C + h * hs, Tn, hs, stride(C));
        map_s(dqbase, Tn, hs, stride(W)).setZero();
        D = (dO.array() * O.array()).rowwise().sum();
        for (std::ptrdiff_t kb = 0; kb < nQ; ++kb) {
          const std::ptrdiff_t j0 = kb * Bq, bc = std::min(Bq, Tn - j0);
          cmap_s K(kbase + j0 * W, bc, hs, stride(W)), Vb(kbase + Ckv + j0 * W, bc, hs, stride(W));
          map_s dK(dkbase + j0 * W, bc, hs, stride(W)), dV(dkbase + Ckv + j0 * W, bc, hs, stride(W));
          for (std::ptrdiff_t qb = kb; qb < nQ; ++qb) {
            const std::ptrdiff_t i0 = qb * Bq, br = std::min(Bq, Tn - i0);
            cmap_s Q(qbase + i0 * W, br, hs, stride(W));
            map_s dQ(dqbase + i0 * W, br, hs, stride(W));
            auto dOi = dO.middleRows(i0, br);
            auto p = P.topLeftCorner(br, bc);
            auto dp = dP.topLeftCorner(br, bc);
            p.noalias() = (scale * Q) * K.transpose();
            p.array().colwise() -= Eigen::Map<const detail::column<T>>(lse + bh * Tn + i0, br);
            p.array() = p.array().exp();
            if (qb == kb) detail::zero_above_diagonal(p);
            dV.noalias() += p.transpose() * dOi;
            dp.noalias() = dOi * Vb.transpose();
            dp.array() = p.array() * (dp.array().colwise() - D.segment(i0, br));
            dQ.noalias() += (scale * dp) * K;
            dK.noalias() += (scale * dp.transpose()) * Q;
          }
        }
      }
    }
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, std::ptrdiff_t B,
                        std::ptrdiff_t Tn, std::ptrdiff_t C, std::ptrdiff_t NH) {
  attention_backward(dqkv, dout, out, lse, qkv, B, Tn, C, NH, NH);
}

template <class T>
void attention_cached(T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, std::ptrdiff_t B,
                      std::ptrdiff_t Tn, std::ptrdiff_t Tmax, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV) {
  const std::ptrdiff_t hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv, group = NH / NKV;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
  for (std::ptrdiff_t b = 0; b < B; ++b)
    for (std::ptrdiff_t t = 0; t < Tn; ++t) {
      const std::ptrdiff_t p = pos0[b] + t;
      std::copy_n(qkv + (b * Tn + t) * W + C, Ckv, kcache + (b * Tmax + p) * Ckv);
      std::copy_n(qkv + (b * Tn + t) * W + C + Ckv, Ckv, vcache + (b * Tmax + p) * Ckv);
    }
  std::ptrdiff_t longest = 0;
  for (std::ptrdiff_t b = 0; b < B; ++b) longest = std::max<std::ptrdiff_t>(longest, pos0[b] + Tn);
  JUICE_OMP(omp parallel if (B * NH * Tn * longest * hs > parallel_threshold))
  {
    std::vector<T> a(static_cast<std::size_t>(longest));
    JUICE_OMP(omp for collapse(2) schedule(static))
    for (std::ptrdiff_t b = 0; b < B; ++b)
      for (std::ptrdiff_t h = 0; h < NH; ++h)
        for (std::ptrdiff_t t = 0; t < Tn; ++t) {
          const std::ptrdiff_t p = pos0[b] + t, kv = (h / group) * hs;
          const T* q = qkv + (b * Tn + t) * W + h * hs;
          T maxv = -std::numeric_limits<T>::infinity();
          for (std::ptrdiff_t t2 = 0; t2 <= p; ++t2) {
            const T* k = kcache + (b * Tmax + t2) * Ckv + kv;
            T s = 0;
            for (std::ptrdiff_t i = 0; i < hs; ++i) s += q[i] * k[i];
            s *= scale;
            a[static_cast<std::size_t>(t2)] = s;
            maxv = std::max(maxv, s);
          }
          T sum = 0;
          for (std::ptrdiff_t t2 = 0; t2 <= p; ++t2) {
            a[static_cast<std::size_t>(t2)] = std::exp(a[static_cast<std::size_t>(t2)] - maxv);
            sum += a[static_cast<std::size_t>(t2)];
          }
          T* o = out + (b * Tn + t) * C + h * hs;
          std::fill_n(o, hs, T(0));
          for (std::ptrdiff_t t2 = 0; t2 <= p; ++t2) {
            const T* v = vcache + (b * Tmax + t2) * Ckv + kv;
            const T w = a[static_cast<std::size_t>(t2)] / sum;
            for (std::ptrdiff_t i = 0; i < hs; ++i) o[i] += w * v[i];
          }
        }
  }
}

template <class T>
void attention_cached(T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, std::ptrdiff_t B,
                      std::ptrdiff_t Tn, std::ptrdiff_t Tmax, std::ptrdiff_t C, std::ptrdiff_t NH) {
  attention_cached(out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH, NH);
}

}  // namespace juice::cpu_kernels
