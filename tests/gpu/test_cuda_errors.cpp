// The CUDA backend's checked calls, with the C++ compiler and the CUDA runtime library only (no
// GPU needed, so this runs in CI): a failing CUDA or cuBLAS status becomes a juice::cuda_error whose
// message names the call as written, this file and line, and the status; success passes; and where
// no device is present, constructing juice::cuda fails with such an error instead of crashing.
#include <boost/test/unit_test.hpp>

#include <string>

#include "juice/backends/cuda/error.hpp"

namespace {
int check_line = 0;  // the line of the check below, for the expected message
std::string message_of(cudaError_t s) {
  try {
    check_line = __LINE__ + 1;
    JUICE_CUDA_CHECK(s);
  } catch (const juice::cuda_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_failed_call_names_itself_and_where) {
  const std::string m = message_of(cudaErrorMemoryAllocation);
  BOOST_TEST_MESSAGE(m);
  BOOST_CHECK(m.find("juice::cuda: s failed at ") == 0);
  BOOST_CHECK(m.find("test_cuda_errors.cpp:" + std::to_string(check_line) + ": ") != std::string::npos);
  BOOST_CHECK(m.find("cudaErrorMemoryAllocation") != std::string::npos);
  BOOST_CHECK_THROW(JUICE_CUDA_CHECK(CUBLAS_STATUS_NOT_INITIALIZED), juice::cuda_error);
  try {
    JUICE_CUDA_CHECK(CUBLAS_STATUS_ALLOC_FAILED);
  } catch (const juice::error& e) {
    BOOST_CHECK(std::string(e.what()).find("CUBLAS_STATUS_ALLOC_FAILED") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(success_passes) {
  BOOST_CHECK_NO_THROW(JUICE_CUDA_CHECK(cudaSuccess));
  BOOST_CHECK_NO_THROW(JUICE_CUDA_CHECK(CUBLAS_STATUS_SUCCESS));
}

BOOST_AUTO_TEST_CASE(no_device_is_an_error_not_a_crash) {
  int count = 0;
  const cudaError_t s = cudaGetDeviceCount(&count);
  if (s == cudaSuccess && count > 0) return;  // a GPU is present: nothing to prove here
  BOOST_CHECK_THROW(JUICE_CUDA_CHECK(cudaGetDeviceCount(&count)), juice::cuda_error);
}
