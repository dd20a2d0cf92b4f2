// The CUDA backend's checked calls, with the C++ compiler and the CUDA runtime library only (no
// GPU needed, so this runs in CI): a failing CUDA or cuBLAS status becomes a juice::cuda_error whose
// message names the call as written, this file and line, and the status; success passes; and where
// no device is present, constructing juice::cuda fails with such an error instead of crashing. And
// the primitives' error context (sync_check.hpp): Thrust's and cuBLAS's errors inside a primitive
// are rethrown naming the primitive, its shape and its caller; the sync check mode waits and checks;
// JUICE_CUDA_SYNC_CHECK accepts 0 or 1 only.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <source_location>
#include <string>

#include "juice/backends/cuda/error.hpp"
#include "juice/backends/cuda/sync_check.hpp"

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

// --- a primitive's failure names the primitive, its shape and its caller (sync_check.hpp) ---

// A primitive's site as device_primitives builds it (the dimensions' array lives as long as `site`).
#define JUICE_TEST_SITE(line)                                                                                     \
  (line) = __LINE__;                                                                                              \
  const juice::cuda_detail::primitive_site site {                                                                 \
    "cuda", "attention_forward", {{"B", 2}, {"T", 1024}, {"C", 768}, {"NH", 12}}, std::source_location::current() \
  }

BOOST_AUTO_TEST_CASE(a_thrust_launch_error_becomes_a_named_cuda_error) {
  int line = 0;
  JUICE_TEST_SITE(line);
  std::string m;
  try {
    juice::cuda_detail::run_checked(site, nullptr, false, [] {
      throw thrust::system_error(cudaErrorIllegalAddress, thrust::system_category(), "for_each: failed to synchronize");
    });
  } catch (const juice::cuda_error& e) {
    m = e.what();
  }
  BOOST_TEST_MESSAGE(m);
  BOOST_TEST(m.find("juice::cuda::attention_forward (B=2, T=1024, C=768, NH=12) called at ") == 0u);
  BOOST_TEST(m.find("test_cuda_errors.cpp:" + std::to_string(line) + ": ") != std::string::npos);
  BOOST_TEST(m.find("for_each: failed to synchronize") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_failed_library_call_inside_a_primitive_keeps_both_places) {
  int line = 0;
  JUICE_TEST_SITE(line);
  std::string m;
  try {
    juice::cuda_detail::run_checked(site, nullptr, false, [] { JUICE_CUDA_CHECK(CUBLAS_STATUS_EXECUTION_FAILED); });
  } catch (const juice::cuda_error& e) {
    m = e.what();
  }
  BOOST_TEST_MESSAGE(m);
  BOOST_TEST(m.find("juice::cuda::attention_forward (B=2, T=1024, C=768, NH=12) called at ") == 0u);
  BOOST_TEST(m.find("CUBLAS_STATUS_EXECUTION_FAILED") != std::string::npos);
  BOOST_TEST(m.find("test_cuda_errors.cpp:" + std::to_string(line) + ": ") != std::string::npos);
  BOOST_TEST(m.find("failed at ") != std::string::npos);  // the cuBLAS call's own file and line
}

BOOST_AUTO_TEST_CASE(sync_check_waits_and_names_the_primitive) {
  int count = 0;
  const bool device = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  int line = 0;
  JUICE_TEST_SITE(line);
  bool ran = false;
  // Off: the work runs and nothing touches the device.
  BOOST_CHECK_NO_THROW(juice::cuda_detail::run_checked(site, nullptr, false, [&] { ran = true; }));
  BOOST_TEST(ran);
  if (device) {  // on a GPU the wait succeeds
    BOOST_TEST(line > 0);
    BOOST_CHECK_NO_THROW(juice::cuda_detail::run_checked(site, nullptr, true, [] {}));
    return;
  }
  // On, without a device: the synchronisation fails, and the error names the primitive.
  std::string m;
  try {
    juice::cuda_detail::run_checked(site, nullptr, true, [] {});
  } catch (const juice::cuda_error& e) {
    m = e.what();
  }
  BOOST_TEST_MESSAGE(m);
  BOOST_TEST(m.find("juice::cuda::attention_forward (B=2, T=1024, C=768, NH=12) called at ") == 0u);
  BOOST_TEST(m.find("test_cuda_errors.cpp:" + std::to_string(line) + ": ") != std::string::npos);
  BOOST_TEST(m.find("JUICE_CUDA_SYNC_CHECK") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_environment_switch_is_0_or_1) {
  ::unsetenv("JUICE_CUDA_SYNC_CHECK");
  BOOST_TEST(!juice::sync_check_from_environment());
  ::setenv("JUICE_CUDA_SYNC_CHECK", "1", 1);
  BOOST_TEST(juice::sync_check_from_environment());
  ::setenv("JUICE_CUDA_SYNC_CHECK", "0", 1);
  BOOST_TEST(!juice::sync_check_from_environment());
  ::setenv("JUICE_CUDA_SYNC_CHECK", "yes", 1);
  std::string m;
  try {
    (void)juice::sync_check_from_environment();
  } catch (const juice::invalid_argument& e) {
    m = e.what();
  }
  BOOST_TEST(m ==
             "juice::cuda: the environment variable JUICE_CUDA_SYNC_CHECK is 'yes'; set it to 1 (synchronise "
             "and check after every primitive) or 0 (off).");
  ::unsetenv("JUICE_CUDA_SYNC_CHECK");
}
