// juice/backends/cpu/sampling.hpp
//
// Sampling on the CPU backend: juice's sampling protocol (juice/core/sampling.hpp) over rows of
// logits in host memory, one uniform per row.
#pragma once

#include <cstddef>
#include <span>

#include "juice/core/rng.hpp"
#include "juice/core/sampling.hpp"

namespace juice::cpu_kernels {

// out[r] = the protocol's token for row r of logits (rows, V) and its uniform u[r].
template <class T>
void sample_tokens(int* out, const T* logits, const double* u, std::ptrdiff_t rows, std::ptrdiff_t V, const sampling_options& o) {
  for (std::ptrdiff_t r = 0; r < rows; ++r)
    out[r] = sample_with_uniform(std::span<const T>(logits + r * V, static_cast<std::size_t>(V)), o, u[r]);
}

// One token id drawn from one row of logits with one uniform from g.
template <class T>
int sample_token(std::span<const T> logits, const sampling_options& o, rng& g) {
  return sample_with_uniform(logits, o, g.uniform());
}

}  // namespace juice::cpu_kernels
