// juice/backends/cuda/bf16.hpp
//
// bfloat16 rounding for the bf16 GEMM compute precision (juice/backends/cuda/gemm_precision.hpp).
// bf16 is the upper half of an IEEE float: the same sign and 8-bit exponent, 7 stored mantissa bits
// (8 significant bits). round_to_bf16(x) is the float nearest to x among the bf16 values, ties to
// even, computed on the float's bits so that it is exact and the same on the host and on a GPU:
// NaN stays NaN (made quiet, so that dropping the low mantissa bits cannot turn it into inf), inf
// stays inf, finite values beyond the largest bf16 round to inf as IEEE rounding says, subnormals
// round like any other value (bf16 has the float's exponent range, so no flush to zero). The OpenMP
// system's bf16 GEMM rounds its inputs with it (through round_to_bf16_fn in a Thrust transform);
// it is the CPU-run model of what cuBLAS does with CUBLAS_COMPUTE_32F_FAST_16BF.
#pragma once

#include <cstdint>
#include <cstring>

#include <thrust/transform.h>

#include "juice/backends/cuda/config.hpp"

namespace juice {

JUICE_HOST_DEVICE inline float round_to_bf16(float x) {
#if defined(__CUDA_ARCH__)
  std::uint32_t u = __float_as_uint(x);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
#endif
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {
    u |= 0x00400000u;  // quiet NaN: a mantissa bit that survives the truncation below
  } else {
    // Adding 0x7fff plus the lowest kept bit carries into the kept bits exactly when the dropped
    // half is above the midpoint, or at it with the kept part odd: round to nearest, ties to even.
    // A carry out of the mantissa bumps the exponent (the next binade, or inf), as it should.
    u += 0x7fffu + ((u >> 16) & 1u);
  }
  u &= 0xffff0000u;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
#endif
}

namespace device_kernels {

struct round_to_bf16_fn {
  JUICE_HOST_DEVICE float operator()(float x) const { return round_to_bf16(x); }
};

// dst[i] = round_to_bf16(src[i]) for i < n (dst may equal src).
template <class Exec>
void round_to_bf16(Exec&& exec, const float* src, float* dst, index n) {
  if (n <= 0) return;
  thrust::transform(exec, src, src + n, dst, round_to_bf16_fn{});
}

}  // namespace device_kernels

}  // namespace juice
