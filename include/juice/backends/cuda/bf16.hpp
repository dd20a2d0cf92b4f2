// juice/backends/cuda/bf16.hpp
//
// bfloat16 rounding for the bf16 GEMM compute precision (juice/backends/cuda/gemm_precision.hpp).
// bf16 is the upper half of an IEEE float: the same sign and 8-bit exponent, 7 stored mantissa bits
// (8 significant bits). round_to_bf16(x) is the float nearest to x among the bf16 values, ties to
// even, NaN kept (quiet), inf kept, overflow to inf, subnormals rounded like any other value:
// round_keeping_mantissa<7> (float_rounding.hpp). The OpenMP system's bf16 GEMM rounds its inputs
// with it (device_kernels::round_to_bf16, a Thrust transform); it is the CPU-run model of what
// cuBLAS does with CUBLAS_COMPUTE_32F_FAST_16BF.
#pragma once

#include "juice/backends/cuda/float_rounding.hpp"

namespace juice {

inline constexpr int bf16_mantissa_bits = 7;

JUICE_HOST_DEVICE inline float round_to_bf16(float x) { return round_keeping_mantissa<bf16_mantissa_bits>(x); }

namespace device_kernels {
// dst[i] = round_to_bf16(src[i]) for i < n (dst may equal src).
template <class Exec>
void round_to_bf16(Exec&& exec, const float* src, float* dst, index n) {
  round_each_keeping_mantissa<bf16_mantissa_bits>(exec, src, dst, n);
}
}  // namespace device_kernels

}  // namespace juice
