// juice/concepts/family_transformer_backend.hpp
//
// The FamilyTransformerBackend concept: the primitives that Llama-family models (Llama, Mistral,
// Qwen2) and GPT-NeoX (Pythia) need beyond GPT-2's, as a refinement of TransformerBackend, so that a
// backend which has not grown them yet (CUDA, for now) still runs GPT-2 and is refused at compile
// time only where a model needs them. Conventions (shapes, handles, overwrite and accumulate) are
// those of juice/concepts/transformer_backend.hpp; N positions, C channels, NH query heads of hs =
// C/NH channels, NKV key/value heads (NH a multiple of NKV), Ckv = NKV*hs, W = C + 2 Ckv.
//
// B satisfies FamilyTransformerBackend<B, T> when B satisfies TransformerBackend<B, T> and, for an
// lvalue b of type B:
//   1. RMSNorm (no mean, no bias):
//        rmsnorm_forward(out(N,C), rstd(N), inp, w(C), N, C, eps):
//                         out = inp rstd w, rstd = 1/sqrt(mean(inp^2) + eps); rstd may be null
//                         (inference), else overwritten
//        rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C): dinp and dw accumulated
//   2. Rotary position embedding, in place on the q and k heads of qkv(N,W) (v untouched), row n at
//      position pos[n] (int), the first rot_dim (even, <= hs) channels of each head in the
//      rotate-half layout (channel i < rot_dim/2 pairs with i + rot_dim/2, angle
//      pos theta^(-2i/rot_dim)):
//        rotary_forward(qkv, pos, N, C, NH, NKV, rot_dim, theta): rotates by +angle
//        rotary_backward(dqkv, pos, N, C, NH, NKV, rot_dim, theta): rotates by -angle (the
//                         gradient of the forward rotation)
//   3. SwiGLU on inp(N,2H) = [gate | up] per row:
//        swiglu_forward(out(N,H), inp, N, H): out = silu(gate) up, overwritten
//        swiglu_backward(dinp(N,2H), inp, dout(N,H), N, H): overwritten; dinp may alias inp
//   4. Grouped-query attention: TransformerBackend's three attention primitives with NKV after NH
//      on qkv(B,T,W) = [q | k | v]; query head h reads key/value head h / (NH/NKV); lse(B,NH,T);
//      the caches are (B,Tmax,Ckv). NKV = NH is the multi-head attention of TransformerBackend.
//        attention_forward(out, lse, qkv, B, T, C, NH, NKV)
//        attention_backward(dqkv, dout, out, lse, qkv, B, T, C, NH, NKV)
//        attention_cached(out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH, NKV)
//   5. Exact GELU, x Phi(x) with erf (GPT-NeoX, Pythia; Hugging Face's "gelu"), with the arguments,
//      overwrite semantics and aliasing of TransformerBackend's tanh gelu (a
//      per-position layer, so it sits with items 1-3 in FamilyLayerPrimitives):
//        gelu_exact_forward(out, inp, n): out = inp Phi(inp), overwritten
//        gelu_exact_backward(dinp, inp, dout, n): dinp = (Phi(inp) + inp phi(inp)) dout, overwritten;
//                         dinp may alias dout
// Deliberately not required: a fused norm + residual, a fused rotary + attention, or a rotary cache
// of cosines and sines (a backend may keep one; the signatures leave room for it).
#pragma once

#include <cstddef>

#include "juice/concepts/transformer_backend.hpp"

namespace juice {

// Items 1-3 and 5: the new per-position layers.
template <class B, class T>
concept FamilyLayerPrimitives =
    requires(B& b, typename B::template pointer<T> p, typename B::template const_pointer<T> cp,
             typename B::template const_pointer<int> cip, std::ptrdiff_t k, double x) {
  // 1.
  b.rmsnorm_forward(p, p, cp, cp, k, k, x);
  b.rmsnorm_backward(p, p, cp, cp, cp, cp, k, k);
  // 2.
  b.rotary_forward(p, cip, k, k, k, k, k, x);
  b.rotary_backward(p, cip, k, k, k, k, k, x);
  // 3.
  b.swiglu_forward(p, cp, k, k);
  b.swiglu_backward(p, cp, cp, k, k);
  // 5.
  b.gelu_exact_forward(p, cp, k);
  b.gelu_exact_backward(p, cp, cp, k);
};

// Item 4: attention with NKV key/value heads.
template <class B, class T>
concept GroupedAttentionPrimitives =
    requires(B& b, typename B::template pointer<T> p, typename B::template const_pointer<T> cp,
             typename B::template const_pointer<int> cip, std::ptrdiff_t k) {
  b.attention_forward(p, p, cp, k, k, k, k, k);
  b.attention_backward(p, cp, cp, cp, cp, k, k, k, k, k);
  b.attention_cached(p, cp, p, p, cip, k, k, k, k, k, k);
};

template <class B, class T>
concept FamilyTransformerBackend = TransformerBackend<B, T> &&
    // 1.-3., 5.
    FamilyLayerPrimitives<B, T> &&
    // 4.
    GroupedAttentionPrimitives<B, T>;

}  // namespace juice
