// juice/backends/cuda/attention_impl.hpp
//
// How a device backend runs causal attention's training passes (attention_forward and
// attention_backward), chosen when the backend is constructed (juice::cuda through cuda_options,
// juice::thrust_omp_backend through its constructor; copies carry the same choice):
//   functors  the portable row functors of attention.cuh, one row per call: the reference, and
//             the default
//   gemm      the products as strided-batched GEMMs with a causal softmax between them
//             (attention_gemm.hpp): on a GPU cuBLAS, on tensor cores in bf16 or tf32 mode
// Both keep the same contract (juice/concepts/transformer_backend.hpp, 5.): out and the per-row
// lse forward, dqkv overwritten backward, no T x T tensor kept between the passes. The gemm path
// needs scratch for blocks of T x T score matrices; scratch_bytes bounds it (see
// attention_gemm_pairs). attention_cached (decoding, a few query rows against a cache) always runs
// on the functors.
#pragma once

#include <cstddef>
#include <string_view>

namespace juice {

enum class attention_impl {
  functors,  // the reference row functors (attention.cuh); the default
  gemm,      // strided-batched GEMMs and a causal softmax (attention_gemm.hpp)
};

[[nodiscard]] constexpr std::string_view attention_impl_name(attention_impl a) {
  return a == attention_impl::gemm ? "gemm" : "functors";
}

struct attention_options {
  attention_impl impl = attention_impl::functors;
  // The most scratch the gemm path holds for its two T x T score buffers together (64 MiB: 8 pairs
  // of 1024 x 1024 float scores, two buffers); at least one (batch row, head) pair is always
  // processed, so T x T x 2 x sizeof(T) above this bound is what a single pair takes.
  std::size_t scratch_bytes = std::size_t{64} << 20;
};

}  // namespace juice
