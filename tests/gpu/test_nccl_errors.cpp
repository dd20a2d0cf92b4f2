// The NCCL checked call, with the C++ compiler, the CUDA runtime headers and libnccl only (no GPU
// needed, so this runs in CI): a failing NCCL status becomes a juice::nccl_error (a
// juice::cuda_error) whose message names the call as written, this file and line, and NCCL's own
// description of the status; success passes.
#include <boost/test/unit_test.hpp>

#include <string>

#include "juice/backends/cuda/nccl_error.hpp"

namespace {
int check_line = 0;  // the line of the check below, for the expected message
std::string message_of(ncclResult_t s) {
  try {
    check_line = __LINE__ + 1;
    JUICE_NCCL_CHECK(s);
  } catch (const juice::nccl_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_failed_call_names_itself_and_where) {
  const std::string m = message_of(ncclInvalidArgument);
  BOOST_TEST_MESSAGE(m);
  BOOST_CHECK(m.find("juice::nccl: s failed at ") == 0);
  BOOST_CHECK(m.find("test_nccl_errors.cpp:" + std::to_string(check_line) + ": ") != std::string::npos);
  BOOST_CHECK(m.find(ncclGetErrorString(ncclInvalidArgument)) != std::string::npos);
  BOOST_CHECK(message_of(ncclSystemError).find(ncclGetErrorString(ncclSystemError)) != std::string::npos);
  // Callers that handle every CUDA-side failure alike catch juice::cuda_error.
  BOOST_CHECK_THROW(JUICE_NCCL_CHECK(ncclUnhandledCudaError), juice::cuda_error);
}

BOOST_AUTO_TEST_CASE(success_passes) { BOOST_CHECK_NO_THROW(JUICE_NCCL_CHECK(ncclSuccess)); }
