// juice/models/transformer_backend.hpp
//
// The TransformerBackend concept: what juice::transformer needs from a Backend beyond the generic
// juice::Backend. B satisfies TransformerBackend<T> when B is a juice::Backend and offers, as static
// members on raw pointers into its buffers (shapes in each primitive's header under
// juice/backends/cpu/):
//   1. data(buffer) and upload/download between host arrays and its buffers;
//   2. matmul_forward/backward (a linear layer), embedding_forward/backward, gather_rows,
//      scatter_add_rows;
//   3. layernorm_forward/backward, gelu_forward/backward, residual_forward, add_inplace;
//   4. attention_forward/backward (causal, multi-head) and attention_cached (KV-cache inference);
//   5. lm_logits, lm_logprob_forward/backward (tied head fused with log-softmax), sample_tokens.
// Deliberately not required: streams, mixed precision, or where index arrays live beyond "where
// the backend's primitives can read them".
#pragma once

#include <cstddef>

#include "juice/backends/cpu/sampling.hpp"
#include "juice/concepts/backend.hpp"
#include "juice/core/rng.hpp"

namespace juice {

template <class B, class T>
concept TransformerBackend =
    Backend<B> &&
    requires(typename B::template buffer<T>& buf, T* p, const T* cp, int* ip, const int* cip, std::ptrdiff_t n,
             const sampling_options& so, rng& g) {
      // 1.
      { B::data(buf) } -> std::same_as<T*>;
      B::upload(cp, p, std::size_t{1});
      B::download(cp, p, std::size_t{1});
      // 2.
      B::matmul_forward(p, cp, cp, cp, n, n, n);
      B::matmul_backward(p, p, p, cp, cp, cp, n, n, n);
      B::embedding_forward(p, cip, cip, cp, cp, n, n);
      B::embedding_backward(p, p, cp, cip, cip, n, n);
      B::gather_rows(p, cp, cip, n, n);
      B::scatter_add_rows(p, cp, cip, n, n);
      // 3.
      B::layernorm_forward(p, p, p, cp, cp, cp, n, n);
      B::layernorm_backward(p, p, p, cp, cp, cp, cp, cp, n, n);
      B::gelu_forward(p, cp, n);
      B::gelu_backward(p, cp, cp, n);
      B::residual_forward(p, cp, cp, n);
      B::add_inplace(p, cp, n);
      // 4.
      B::attention_forward(p, p, cp, n, n, n, n);
      B::attention_backward(p, cp, cp, cp, n, n, n, n);
      B::attention_cached(p, cp, p, p, cip, n, n, n, n, n);
      // 5.
      B::lm_logits(p, cp, cp, n, n, n);
      B::lm_logprob_forward(p, p, cp, cp, cip, n, n, n);
      B::lm_logprob_backward(p, p, p, cp, cp, cip, cp, n, n, n);
      B::sample_tokens(ip, cp, n, n, so, g);
    };

}  // namespace juice
