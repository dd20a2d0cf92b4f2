// juice/concepts/transformer_backend.hpp
//
// The TransformerBackend concept: everything juice::transformer and juice::transformer_reward use
// from a backend, stated here in full so that a second backend (CUDA, or a test backend with opaque
// memory) plugs into models/ without reading another backend's code. Shapes are written (rows, cols)
// row-major; N = B*T positions, C channels, NH heads (hs = C/NH), V vocabulary, M scored rows.
//
// B satisfies TransformerBackend<B, T> (T = float or double) when B is a juice::Backend and, for an
// lvalue b of type B, with E in {T, int, double} (element types the model allocates):
//   1. Memory. B::pointer<E> and B::const_pointer<E> are handles into B's memory (raw device or host
//      pointers, or opaque wrappers): value-initialised to null, copyable, p + n (std::ptrdiff_t) for
//      an offset, pointer converts to const_pointer. The model never dereferences them.
//      b.allocate<E>(n) returns a zero-filled buffer<E>; buf.size() is its element count (host
//      metadata); b.data(buf) returns a pointer<E> (const_pointer<E> for a const buffer);
//      b.view_at(p, n) and b.const_view_at(cp, n) view n elements at a handle (for the Backend
//      primitives). Buffers need not be copyable: the model copies through b.copy.
//   2. Transfers. b.upload(const E* host, pointer<E> dst, n) and b.download(const_pointer<E> src,
//      E* host, n) copy n elements between host memory and B's memory; a download synchronises.
//      These and Backend's dot() are the only host <-> backend traffic the model causes.
//   3. Linear layers and rows (out = overwritten, += accumulated; bias/dbias may be null):
//        matmul_forward(out(N,OC), inp(N,C), w(OC,C), bias(OC), N, C, OC):  out = inp w^T + bias
//        matmul_backward(dinp(N,C), dw(OC,C), dbias(OC), dout(N,OC), inp, w, N, C, OC):
//                         dinp = dout w;  dw += dout^T inp;  dbias += sum_n dout
//        embedding_forward(out(N,C), tok(N), pos(N), wte(V,C), wpe(P,C), N, C):
//                         out = wte[tok] + wpe[pos]
//        embedding_backward(dwte, dwpe, dout(N,C), tok, pos, N, C): dwte[tok] += dout, dwpe[pos] += dout
//                         (rows may repeat a token: the backend serialises or reduces)
//        gather_rows(out(M,C), inp, index(M), M, C):      out = inp[index]
//        scatter_add_rows(dinp, dout(M,C), index(M), M, C): dinp[index] += dout (indices distinct)
//   4. Normalisation and element-wise:
//        layernorm_forward(out(N,C), mean(N), rstd(N), inp, w(C), b(C), N, C): eps 1e-5; mean and
//                         rstd may both be null (inference), else overwritten with the statistics
//        layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C): all three accumulated
//        gelu_forward(out, inp, n): GPT-2's tanh GELU;  gelu_backward(dinp, inp, dout, n):
//                         dinp = gelu'(inp) dout, overwritten; dinp may alias dout
//        residual_forward(out, a, b, n): out = a + b;  add_inplace(x, y, n): x += y
//   5. Attention, causal, packed qkv(B,T,3C) = [q | k | v], scale 1/sqrt(hs):
//        attention_forward(out(B,T,C), lse(B,NH,T), qkv, B, T, C, NH): out = softmax(scale q k^T
//                         masked to keys <= query) v, lse[b,h,t] = log sum_{t2<=t} exp(scale q_t.k_t2)
//                         (natural log), both overwritten. Only these O(B NH T) row statistics are
//                         kept for the backward pass, never the T x T probabilities.
//        attention_backward(dqkv(B,T,3C), dout(B,T,C), out, lse, qkv, B, T, C, NH): dqkv overwritten;
//                         out and lse are those of the forward pass on qkv (the backend recomputes
//                         the probabilities from them, FlashAttention-2 style)
//        attention_cached(out(B,Tn,C), qkv(B,Tn,3C), kcache(B,Tmax,C), vcache, pos0(B), B, Tn, Tmax,
//                         C, NH): row b's Tn new positions are pos0[b] ..; their k, v are written
//                         into the caches and each attends to cache positions 0..itself
//   6. LM head, tied to wte (V,C):
//        lm_logits(logits(M,V), h(M,C), wte, M, C, V): logits = h wte^T, overwritten
//        lm_logprob_forward(logits(M,V), logp(M), h, wte, target(M), M, C, V): logits := log_softmax
//                         (kept for the backward pass), logp = logits[target]
//        lm_logprob_backward(dh(M,C), dwte, logits, h, wte, target, g(M), M, C, V): with
//                         dlogits = g (onehot(target) - softmax) (computed in place in logits):
//                         dh = dlogits wte overwritten, dwte += dlogits^T h
//      The model may call these on row ranges (h + r0 C, target + r0, g + r0, dh + r0 C, logp + r0
//      with M the range's length) into a smaller logits buffer: transformer::set_max_logit_rows
//      runs the head chunk by chunk, then recomputes each chunk's lm_logprob_forward right before
//      its lm_logprob_backward. So the primitives keep nothing between calls but `logits`, and dwte
//      is accumulated, never overwritten.
//   7. Sampling: sample_tokens(out(R) int, logits(R,V), u(R) double, R, V, sampling_options) writes
//      the token juice's sampling protocol (juice/core/sampling.hpp) picks for each row with its
//      uniform u[r], so every backend emits the same tokens from the same logits and seed.
// Index arrays (tok, pos, index, target, pos0, out) are int buffers of the backend. Arguments that
// are not said to alias must not overlap. All primitives may run asynchronously (in order).
// The parts have names: TransformerLayerPrimitives (1's views, 3, 4, 6, 7) and AttentionPrimitives
// (5), so a backend in progress can be checked part by part.
// Deliberately not required: streams or handles in the signatures (they live in the backend
// object), mixed precision, host access to the backend's memory, or any particular GEMM library.
#pragma once

#include <concepts>
#include <cstddef>

#include "juice/concepts/backend.hpp"
#include "juice/core/sampling.hpp"

namespace juice {

template <class B, class E>
concept BackendMemoryFor =
    requires {
  typename B::template pointer<E>;
  typename B::template const_pointer<E>;
}
&&std::regular<typename B::template pointer<E>>&& std::regular<typename B::template const_pointer<E>>&&
    std::convertible_to<typename B::template pointer<E>, typename B::template const_pointer<E>>&& requires(B& b, typename B::template buffer<E>& buf, const typename B::template buffer<E>& cbuf,
                                                                                                           typename B::template pointer<E> p, typename B::template const_pointer<E> cp, const E* host_src,
                                                                                                           E* host_dst, std::size_t n, std::ptrdiff_t off) {
  { b.template allocate<E>(n) } -> std::same_as<typename B::template buffer<E>>;
  { buf.size() } -> std::convertible_to<std::size_t>;
  { b.data(buf) } -> std::same_as<typename B::template pointer<E>>;
  { b.data(cbuf) } -> std::same_as<typename B::template const_pointer<E>>;
  { p + off } -> std::same_as<typename B::template pointer<E>>;
  { cp + off } -> std::same_as<typename B::template const_pointer<E>>;
  b.upload(host_src, p, n);
  b.download(cp, host_dst, n);
};

// Items 1 (views), 3, 4, 6 and 7: every layer primitive except attention.
template <class B, class T>
concept TransformerLayerPrimitives =
    requires(B& b, typename B::template pointer<T> p, typename B::template const_pointer<T> cp,
             typename B::template pointer<int> ip, typename B::template const_pointer<int> cip,
             typename B::template const_pointer<double> cdp, std::size_t n, std::ptrdiff_t k,
             const sampling_options& so) {
  // 1.
  { b.view_at(p, n) } -> std::same_as<typename B::template view<T>>;
  { b.const_view_at(cp, n) } -> std::same_as<typename B::template const_view<T>>;
  // 3.
  b.matmul_forward(p, cp, cp, cp, k, k, k);
  b.matmul_backward(p, p, p, cp, cp, cp, k, k, k);
  b.embedding_forward(p, cip, cip, cp, cp, k, k);
  b.embedding_backward(p, p, cp, cip, cip, k, k);
  b.gather_rows(p, cp, cip, k, k);
  b.scatter_add_rows(p, cp, cip, k, k);
  // 4.
  b.layernorm_forward(p, p, p, cp, cp, cp, k, k);
  b.layernorm_backward(p, p, p, cp, cp, cp, cp, cp, k, k);
  b.gelu_forward(p, cp, k);
  b.gelu_backward(p, cp, cp, k);
  b.residual_forward(p, cp, cp, k);
  b.add_inplace(p, cp, k);
  // 6.
  b.lm_logits(p, cp, cp, k, k, k);
  b.lm_logprob_forward(p, p, cp, cp, cip, k, k, k);
  b.lm_logprob_backward(p, p, p, cp, cp, cip, cp, k, k, k);
  // 7.
  b.sample_tokens(ip, cp, cdp, k, k, so);
};

// Item 5: the attention primitives.
template <class B, class T>
concept AttentionPrimitives =
    requires(B& b, typename B::template pointer<T> p, typename B::template const_pointer<T> cp,
             typename B::template const_pointer<int> cip, std::ptrdiff_t k) {
  b.attention_forward(p, p, cp, k, k, k, k);
  b.attention_backward(p, cp, cp, cp, cp, k, k, k, k);
  b.attention_cached(p, cp, p, p, cip, k, k, k, k, k);
};

template <class B, class T>
concept TransformerBackend = Backend<B> && std::floating_point<T> &&
    // 1. and 2.
    BackendMemoryFor<B, T> && BackendMemoryFor<B, int> && BackendMemoryFor<B, double> &&
    // 1., 3., 4., 6., 7.
    TransformerLayerPrimitives<B, T> &&
    // 5.
    AttentionPrimitives<B, T>;

}  // namespace juice
