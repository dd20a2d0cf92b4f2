// juice/backends/cuda/gemm_precision.hpp
//
// The compute precision of a device backend's float GEMMs, chosen when the backend is constructed
// (juice::cuda, juice::thrust_omp_backend; copies carry the same choice). Everything else stays
// float: parameters (the fp32 master weights), activations, gradients and optimizer state are
// stored in float, and every non-GEMM primitive (layernorm, softmax, attention, AdamW, ...) computes
// in float. Only the matrix products, nearly all of a transformer's FLOPs, change (with
// attention_impl::gemm, attention_gemm.hpp, attention's own products are GEMMs and follow too):
//   fp32  float inputs, float accumulation (cublasSgemm; the CPU float GEMM)
//   bf16  both inputs rounded to bfloat16 (8 significant bits), products and sums in float: tensor
//         cores through cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_16BF on a GPU; on Thrust's OpenMP
//         system an emulation (inputs rounded with juice::round_to_bf16, then the CPU float GEMM)
//         that CI runs as the reference of the mode.
//   tf32  both inputs rounded to TensorFloat-32 (11 significant bits: the float's exponent, 10
//         mantissa bits), products and sums in float: tensor cores through cublasGemmEx /
//         cublasGemmStridedBatchedEx with CUBLAS_COMPUTE_32F_FAST_TF32; on the OpenMP system the
//         inputs are rounded with juice::round_to_tf32 (tf32.hpp), then the CPU float GEMM.
// double GEMMs ignore the option: bf16 and tf32 compute is a float-model speed option, and the double
// models exist for exact checks.
#pragma once

#include <string_view>

namespace juice {

enum class gemm_precision {
  fp32,  // the default
  bf16,  // bf16 inputs, float accumulation
  tf32,  // tf32 inputs, float accumulation
};

[[nodiscard]] constexpr std::string_view gemm_precision_name(gemm_precision p) {
  switch (p) {
    case gemm_precision::bf16:
      return "bf16";
    case gemm_precision::tf32:
      return "tf32";
    case gemm_precision::fp32:
      break;
  }
  return "fp32";
}

}  // namespace juice
