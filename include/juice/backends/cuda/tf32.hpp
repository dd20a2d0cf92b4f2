// juice/backends/cuda/tf32.hpp
//
// TensorFloat-32 rounding for the tf32 GEMM compute precision (juice/backends/cuda/gemm_precision.hpp).
// TF32 keeps the float's sign and 8-bit exponent and 10 of its 23 mantissa bits (11 significant
// bits); tensor cores read a float operand as the TF32 value it rounds to. round_to_tf32(x) is the
// float nearest to x among the TF32 values, ties to even, NaN kept (quiet), inf kept, overflow to
// inf, subnormals rounded like any other value: round_keeping_mantissa<10> (float_rounding.hpp),
// the rounding juice::round_to_bf16 (bf16.hpp) does for 7 bits. The OpenMP system's tf32 GEMM
// rounds its inputs with it (device_kernels::round_to_tf32, a Thrust transform): the CPU-run model
// of cuBLAS with CUBLAS_COMPUTE_32F_FAST_TF32.
#pragma once

#include "juice/backends/cuda/float_rounding.hpp"

namespace juice {

inline constexpr int tf32_mantissa_bits = 10;

JUICE_HOST_DEVICE inline float round_to_tf32(float x) { return round_keeping_mantissa<tf32_mantissa_bits>(x); }

namespace device_kernels {
// dst[i] = round_to_tf32(src[i]) for i < n (dst may equal src).
template <class Exec>
void round_to_tf32(Exec&& exec, const float* src, float* dst, index n) {
  round_each_keeping_mantissa<tf32_mantissa_bits>(exec, src, dst, n);
}
}  // namespace device_kernels

}  // namespace juice
