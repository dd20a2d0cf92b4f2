// juice/backends/cuda/sync_check.hpp
//
// How juice::cuda runs one primitive so that a failure says where it happened. Kernels run
// asynchronously: without help, a bad launch or an illegal address inside a kernel surfaces at the
// next synchronisation, in whatever call happens to wait, with no kernel named. So:
//   - every primitive runs through run_checked(site, stream, sync_check, work): an error thrown by
//     the work (Thrust's thrust::system_error from a launch, or a juice::cuda_error from a checked
//     cuBLAS call) is rethrown as juice::cuda_error prefixed with the primitive, its shape and the
//     caller's source location (juice/backends/cuda/primitive_site.hpp);
//   - in the debug mode (sync_check true) it then synchronises the stream and checks
//     cudaGetLastError, so the primitive whose kernel failed is the one named. The mode is a backend
//     option (juice::cuda_options::sync_check) or JUICE_CUDA_SYNC_CHECK=1 in the environment at run
//     time (sync_check_from_environment); it costs a host synchronisation per primitive, so it is
//     for finding a fault, not for timing.
// Host code only: the C++ compiler and the CUDA runtime suffice (tests/gpu/test_cuda_errors.cpp
// runs it without a GPU).
#pragma once

#include <cstdlib>
#include <initializer_list>
#include <source_location>
#include <string>
#include <string_view>

#include <cuda_runtime.h>
#include <thrust/system_error.h>

#include "juice/backends/cuda/error.hpp"
#include "juice/backends/cuda/primitive_site.hpp"

namespace juice {

namespace cuda_detail {

// The caller of a primitive: what to name when it fails.
struct primitive_site {
  std::string_view backend;
  std::string_view primitive;
  std::initializer_list<device_kernels::dim> dims;
  std::source_location where;
  [[nodiscard]] std::string describe() const { return device_kernels::describe_call(backend, primitive, dims, where); }
};

// Throws juice::cuda_error naming the site unless `status` is cudaSuccess.
inline void check_site(cudaError_t status, const primitive_site& site, const char* what) {
  if (status != cudaSuccess)
    throw cuda_error(site.describe() + ": " + what + ": " + cudaGetErrorName(status) + " (" +
                     cudaGetErrorString(status) + ").");
}

// Runs `work` (the launches of one primitive on `stream`); see the header comment.
template <class F>
void run_checked(const primitive_site& site, cudaStream_t stream, bool sync_check, F&& work) {
  try {
    work();
  } catch (const thrust::system_error& e) {
    throw cuda_error(site.describe() + ": " + e.what() + ".");
  } catch (const cuda_error& e) {
    throw cuda_error(site.describe() + ": " + e.what());
  }
  if (!sync_check) return;
  check_site(cudaGetLastError(), site, "a kernel launch failed (found by JUICE_CUDA_SYNC_CHECK)");
  check_site(cudaStreamSynchronize(stream), site, "a kernel failed (found by JUICE_CUDA_SYNC_CHECK)");
  check_site(cudaGetLastError(), site, "a kernel failed (found by JUICE_CUDA_SYNC_CHECK)");
}

}  // namespace cuda_detail

// JUICE_CUDA_SYNC_CHECK from the environment: unset, empty or "0" is off, "1" is on; anything else
// is refused with a sentence (a typo should not silently leave the debug mode off).
inline bool sync_check_from_environment() {
  const char* v = std::getenv("JUICE_CUDA_SYNC_CHECK");  // NOLINT(concurrency-mt-unsafe): read once, at construction
  if (v == nullptr || std::string_view(v).empty() || std::string_view(v) == "0") return false;
  if (std::string_view(v) == "1") return true;
  throw invalid_argument(std::string("juice::cuda: the environment variable JUICE_CUDA_SYNC_CHECK is '") + v +
                         "'; set it to 1 (synchronise and check after every primitive) or 0 (off).");
}

}  // namespace juice
