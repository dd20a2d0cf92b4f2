// juice/backends/cuda/float_rounding.hpp
//
// Rounding a float to a shorter mantissa, for the reduced GEMM compute precisions
// (juice/backends/cuda/gemm_precision.hpp): bf16 keeps 7 of the float's 23 stored mantissa bits
// (bf16.hpp), TF32 keeps 10 (tf32.hpp); both keep the float's sign and 8-bit exponent.
// round_keeping_mantissa<K>(x) is the float nearest to x among the floats whose low 23 - K mantissa
// bits are zero, ties to even, computed on the float's bits so that it is exact and the same on the
// host and on a GPU: NaN stays NaN (made quiet, so that dropping the low mantissa bits cannot turn
// it into inf), inf stays inf, finite values beyond the largest such value round to inf as IEEE
// rounding says, subnormals round like any other value (the format has the float's exponent range,
// so no flush to zero). device_kernels::round_each_keeping_mantissa<K> is the Thrust transform the
// OpenMP system's emulated GEMMs round their inputs with.
#pragma once

#include <cstdint>
#include <cstring>

#include <thrust/transform.h>

#include "juice/backends/cuda/config.hpp"

namespace juice {

template <int K>
JUICE_HOST_DEVICE inline float round_keeping_mantissa(float x) {
  // K = 0 would drop the quiet bit that keeps a NaN a NaN; K = 23 rounds nothing.
  static_assert(K >= 1 && K <= 22, "juice::round_keeping_mantissa<K>: K (mantissa bits kept) must be in [1, 22]");
  constexpr unsigned dropped = 23u - static_cast<unsigned>(K);
  constexpr std::uint32_t below_half = (1u << (dropped - 1u)) - 1u, kept = ~((1u << dropped) - 1u);
#if defined(__CUDA_ARCH__)
  std::uint32_t u = __float_as_uint(x);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
#endif
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {
    u |= 0x00400000u;  // quiet NaN: the top mantissa bit, which the truncation below keeps
  } else {
    // Adding just under half a step plus the lowest kept bit carries into the kept bits exactly
    // when the dropped part is above half a step, or at it with the kept part odd: round to nearest,
    // ties to even. A carry out of the mantissa bumps the exponent (the next binade, or inf), as it
    // should.
    u += below_half + ((u >> dropped) & 1u);
  }
  u &= kept;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
#endif
}

namespace device_kernels {

template <int K>
struct round_keeping_mantissa_fn {
  JUICE_HOST_DEVICE float operator()(float x) const { return round_keeping_mantissa<K>(x); }
};

// dst[i] = round_keeping_mantissa<K>(src[i]) for i < n (dst may equal src).
template <int K, class Exec>
void round_each_keeping_mantissa(Exec&& exec, const float* src, float* dst, index n) {
  if (n <= 0) return;
  thrust::transform(exec, src, src + n, dst, round_keeping_mantissa_fn<K>{});
}

}  // namespace device_kernels

}  // namespace juice
