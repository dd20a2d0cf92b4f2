// juice/backends/cuda/tf32.hpp
//
// TensorFloat-32 rounding for the tf32 GEMM compute precision (juice/backends/cuda/gemm_precision.hpp).
// TF32 keeps the float's sign and 8-bit exponent and 10 of its 23 mantissa bits (11 significant
// bits); tensor cores read a float operand as the TF32 value it rounds to. round_to_tf32(x) is the
// float nearest to x among the TF32 values, ties to even, computed on the float's bits exactly as
// juice::round_to_bf16 (bf16.hpp) does for 7 mantissa bits: NaN stays NaN (made quiet), inf stays
// inf, finite values beyond the largest TF32 round to inf, subnormals round like any other value.
// The OpenMP system's tf32 GEMM rounds its inputs with it (through round_to_tf32_fn in a Thrust
// transform): the CPU-run model of cuBLAS with CUBLAS_COMPUTE_32F_FAST_TF32.
#pragma once

#include <cstdint>
#include <cstring>

#include <thrust/transform.h>

#include "juice/backends/cuda/config.hpp"

namespace juice {

JUICE_HOST_DEVICE inline float round_to_tf32(float x) {
#if defined(__CUDA_ARCH__)
  std::uint32_t u = __float_as_uint(x);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
#endif
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {
    u |= 0x00400000u;  // quiet NaN: the top mantissa bit, which the truncation below keeps
  } else {
    // 13 bits are dropped: adding 0xfff plus the lowest kept bit (bit 13) carries into the kept
    // bits exactly when the dropped part is above half a step, or at it with the kept part odd.
    u += 0xfffu + ((u >> 13) & 1u);
  }
  u &= 0xffffe000u;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
#endif
}

namespace device_kernels {

struct round_to_tf32_fn {
  JUICE_HOST_DEVICE float operator()(float x) const { return round_to_tf32(x); }
};

// dst[i] = round_to_tf32(src[i]) for i < n (dst may equal src).
template <class Exec>
void round_to_tf32(Exec&& exec, const float* src, float* dst, index n) {
  if (n <= 0) return;
  thrust::transform(exec, src, src + n, dst, round_to_tf32_fn{});
}

}  // namespace device_kernels

}  // namespace juice
