// juice/backends/cuda/error.hpp
//
// Checked CUDA and cuBLAS calls: JUICE_CUDA_CHECK(call) runs the call and, when it does not return
// success, throws juice::cuda_error with a sentence naming the call as written, the source file and
// line, and the library's name and description of the status, e.g.
//   "juice::cuda: cudaGetDevice(&device_) failed at
//    include/juice/backends/cuda/cuda_backend.hpp:39: cudaErrorInsufficientDriver (CUDA driver
//    version is insufficient for CUDA runtime version)."
// Needs the CUDA runtime and cuBLAS headers (the juice::cuda target).
#pragma once

#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "juice/core/error.hpp"

namespace juice {

// A CUDA runtime or library call failed (no device, out of memory, a bad launch ...).
class cuda_error : public error {
public:
  using error::error;
};

namespace cuda_detail {

inline std::string where(const char* call, const char* file, int line) {
  return std::string("juice::cuda: ") + call + " failed at " + file + ":" + std::to_string(line) + ": ";
}

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess)
    throw cuda_error(where(call, file, line) + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ").");
}

inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw cuda_error(where(call, file, line) + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ").");
}

}  // namespace cuda_detail
}  // namespace juice

// Runs `call` (a CUDA runtime or cuBLAS call) and throws juice::cuda_error naming it unless it succeeds.
#define JUICE_CUDA_CHECK(call) ::juice::cuda_detail::check((call), #call, __FILE__, __LINE__)
