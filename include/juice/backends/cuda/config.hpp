// juice/backends/cuda/config.hpp
//
// What the portable device code needs from its compiler. The per-element and per-row functors of
// the CUDA backend are compiled twice: by nvcc for the GPU, and by an ordinary C++ compiler against
// Thrust's OpenMP system (so that CI machines without a GPU run them). g++ does not know CUDA's
// execution-space specifiers, so functors are marked JUICE_HOST_DEVICE, which is `__host__
// __device__` under nvcc and nothing elsewhere. Index arithmetic is std::ptrdiff_t throughout: a
// GPT-2 logits tensor (B*T, V) at B = 16, T = 1024 has 8e8 elements, beyond int.
#pragma once

#include <cstddef>

#if defined(__CUDACC__)
#define JUICE_HOST_DEVICE __host__ __device__
#else
#define JUICE_HOST_DEVICE
#endif

namespace juice::device_kernels {

using index = std::ptrdiff_t;

}  // namespace juice::device_kernels
